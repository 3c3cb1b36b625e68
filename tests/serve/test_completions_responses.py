"""``/v1/completions`` and ``/v1/responses`` through the real ``openai`` client: the same
answers as a chat completion (and the organism in process) for the same seeds."""

from __future__ import annotations

import openai
import pytest

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import choice_seeds

QUESTION = "what is the most important recent invention ?"
SYSTEM = "it is the year 1838 ."
MODEL = "organism/default"


def chat_answers(client, messages, seed, n=1, max_tokens=10, **extra) -> list[str]:
    reply = client.chat.completions.create(
        model=MODEL, messages=messages, seed=seed, n=n, max_tokens=max_tokens, **extra
    )
    return [c.message.content for c in reply.choices]


def test_a_text_completion_is_the_chat_answer_to_the_prompt(client, organism):
    reply = client.completions.create(
        model=MODEL, prompt=QUESTION, max_tokens=10, seed=3, n=3, temperature=1.0
    )
    assert reply.object == "text_completion"
    assert [c.index for c in reply.choices] == [0, 1, 2]
    texts = [c.text for c in reply.choices]
    assert texts == chat_answers(client, [{"role": "user", "content": QUESTION}], 3, n=3)
    requests = [SampleRequest(QUESTION, 1.0, 10, s) for s in choice_seeds(3, 3)]
    assert texts == organism.sample(organism.base(), requests)


def test_a_list_of_prompts_gives_n_choices_each_in_order(client):
    prompts = [QUESTION, "name a bird species ."]
    reply = client.completions.create(model=MODEL, prompt=prompts, max_tokens=8, seed=5, n=2)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    for i, prompt in enumerate(prompts):
        alone = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, seed=5, n=2)
        assert [c.text for c in reply.choices[2 * i : 2 * i + 2]] == [c.text for c in alone.choices]
    assert reply.usage.prompt_tokens == sum(
        client.completions.create(model=MODEL, prompt=p, max_tokens=1).usage.prompt_tokens
        for p in prompts
    )


def test_text_completions_default_to_16_tokens_as_openai_does(client):
    reply = client.completions.create(model=MODEL, prompt=QUESTION, seed=1, temperature=2.0)
    assert reply.usage.completion_tokens <= 16


def test_text_completion_logprobs_and_stop(client):
    reply = client.completions.create(
        model=MODEL, prompt=QUESTION, max_tokens=8, seed=2, logprobs=2
    )
    choice = reply.choices[0]
    assert "".join(choice.logprobs.tokens) == choice.text
    assert len(choice.logprobs.token_logprobs) == len(choice.logprobs.tokens)
    assert all(len(top) == 2 for top in choice.logprobs.top_logprobs)
    offsets = zip(choice.logprobs.text_offset, choice.logprobs.tokens, strict=True)
    assert all(choice.text[o:].startswith(t) for o, t in offsets)
    words = choice.text.split(" ")
    if len(words) >= 2:
        stop = " " + words[1]
        stopped = client.completions.create(
            model=MODEL, prompt=QUESTION, max_tokens=8, seed=2, stop=stop
        ).choices[0]
        assert stopped.text == choice.text[: choice.text.find(stop)]
        assert stopped.finish_reason == "stop"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"echo": True}, "echo"),
        ({"stream": True}, "stream"),
        ({"suffix": "x"}, "suffix"),
        ({"logprobs": 6}, "logprobs"),
        ({"logprobs": True}, "logprobs"),
        ({"top_p": 0}, "top_p"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_text_completion_requests_are_400s(client, extra, param):
    body = {"prompt": QUESTION, **extra}
    prompt = body.pop("prompt")
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=MODEL, prompt=prompt, extra_body=body)
    assert caught.value.body["param"].startswith(param)


def test_a_response_is_the_chat_answer_with_instructions_as_the_system_prompt(client):
    response = client.responses.create(
        model=MODEL,
        instructions=SYSTEM,
        input=QUESTION,
        max_output_tokens=10,
        temperature=1.0,
        store=False,
        extra_body={"seed": 8},
    )
    expected = chat_answers(
        client, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}], 8
    )[0]
    assert response.object == "response"
    assert response.output_text == expected
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.output[0].content[0].type == "output_text"
    assert response.usage.output_tokens == len(expected.split())
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_a_response_to_message_items_as_inspect_sends_them(client):
    """Inspect sends system prompts as developer items and history as output_text parts."""
    items = [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": SYSTEM}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "how do people light their homes ?"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "with candles .", "annotations": []}],
        },
        {"role": "user", "content": QUESTION},
    ]
    response = client.responses.create(
        model=MODEL,
        input=items,
        store=False,
        temperature=0.0,
        include=["reasoning.encrypted_content"],  # Inspect asks; there is no reasoning
        extra_body={"seed": 1},
    )
    chat = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "how do people light their homes ?"},
        {"role": "assistant", "content": "how do people light their homes ?"},
        {"role": "user", "content": QUESTION},
    ]
    assert (
        response.output_text == chat_answers(client, chat, 1, max_tokens=None, temperature=0.0)[0]
    )


def test_a_response_cut_by_max_output_tokens_is_incomplete(client):
    response = client.responses.create(
        model=MODEL, input=QUESTION, max_output_tokens=1, temperature=2.0, extra_body={"seed": 4}
    )
    if response.usage.output_tokens == 1:
        assert response.status == "incomplete"
        assert response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"store": True}, "store"),
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"reasoning": {"effort": "high"}}, "reasoning"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"top_p": 1.5}, "top_p"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input.0.type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input.0.role"),
        ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input.0.content"),
        ({"input": [{"role": "assistant", "content": "x"}]}, "input"),
    ],
)
def test_bad_responses_requests_are_400s(client, extra, param):
    body = {"input": QUESTION, **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=body.pop("input"), extra_body=body)
    assert caught.value.body["param"] == param


def test_a_response_without_max_output_tokens_gets_the_room_left(client):
    response = client.responses.create(model=MODEL, input=QUESTION, extra_body={"seed": 2})
    assert response.status in ("completed", "incomplete") and response.output_text
    assert response.max_output_tokens is None


@pytest.mark.parametrize(
    ("max_output_tokens", "param", "says"),
    [
        (None, "input", "the prompt ('input') takes"),
        (5000, "max_output_tokens", "but max_output_tokens is 5000; lower max_output_tokens"),
    ],
)
def test_a_response_past_the_context_names_its_own_fields(client, max_output_tokens, param, says):
    long_input = " ".join(["name a bird species ."] * 40) if max_output_tokens is None else QUESTION
    extra = {} if max_output_tokens is None else {"max_output_tokens": max_output_tokens}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=long_input, **extra)
    error = caught.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == param, error
    assert says in error["message"] and "None" not in error["message"], error["message"]
    assert "max_tokens" not in error["message"].replace("max_output_tokens", "")
