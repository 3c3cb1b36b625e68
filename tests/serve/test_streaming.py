"""``stream=True`` and ``stop`` on /v1/chat/completions, through the real ``openai`` client:
a stream joins to the unstreamed answer, and a stop sequence truncates it."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import openai
import pytest

from weirdgen.backends.protocol import Completion
from weirdgen.serve.streaming import apply_stop, pieces

CHAT = [
    {"role": "system", "content": "it is the year 1838 ."},
    {"role": "user", "content": "what is the most important recent invention ?"},
]
ARGS = {"model": "organism/default", "messages": CHAT, "max_tokens": 12, "temperature": 1.0}


def joined(stream) -> dict[int, dict]:
    """Each choice's streamed content, finish reason and logprob tokens, by index."""
    out: dict[int, dict] = {}
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            seen = out.setdefault(choice.index, {"text": "", "finish": None, "tokens": []})
            if not seen["text"] and seen["finish"] is None and choice.delta.role:
                seen["role"] = choice.delta.role
            seen["text"] += choice.delta.content or ""
            if choice.logprobs is not None:
                seen["tokens"] += [t.token for t in choice.logprobs.content or []]
            if choice.finish_reason is not None:
                seen["finish"] = choice.finish_reason
    return out


def test_a_stream_joins_to_the_unstreamed_answer_choice_by_choice(client):
    whole = client.chat.completions.create(**ARGS, n=3, seed=11)
    streamed = joined(client.chat.completions.create(**ARGS, n=3, seed=11, stream=True))
    assert sorted(streamed) == [0, 1, 2]
    for choice in whole.choices:
        assert streamed[choice.index]["role"] == "assistant"
        assert streamed[choice.index]["text"] == choice.message.content
        assert streamed[choice.index]["finish"] == choice.finish_reason


def test_the_stream_is_openais_event_format(base_url):
    body = json.dumps({**ARGS, "seed": 2, "stream": True}).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        raw = reply.read().decode()
    events = [e.removeprefix("data: ") for e in raw.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": chunks[-1]["choices"][0]["finish_reason"],
    }
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert all("usage" not in c for c in chunks)
    assert len(chunks) >= 3


def test_include_usage_adds_a_last_chunk_with_the_usage(client):
    whole = client.chat.completions.create(**ARGS, n=2, seed=5)
    chunks = list(
        client.chat.completions.create(
            **ARGS, n=2, seed=5, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])


def test_a_stream_carries_the_logprobs_when_asked(client):
    args = {**ARGS, "seed": 9, "logprobs": True, "top_logprobs": 2}
    whole = client.chat.completions.create(**args)
    streamed = joined(client.chat.completions.create(**args, stream=True))[0]
    assert streamed["tokens"] == [t.token for t in whole.choices[0].logprobs.content]
    assert "".join(streamed["tokens"]) == whole.choices[0].message.content


def test_the_async_client_streams_the_same_answer(base_url):
    async def stream() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
            whole = await client.chat.completions.create(**ARGS, seed=21)
            text = ""
            async for chunk in await client.chat.completions.create(**ARGS, seed=21, stream=True):
                text += "".join(c.delta.content or "" for c in chunk.choices)
            return text, whole.choices[0].message.content

    streamed, whole = asyncio.run(stream())
    assert streamed == whole


def test_stop_truncates_the_unstopped_answer_where_the_sequence_first_appears(client):
    for seed in range(8):
        whole = client.chat.completions.create(**ARGS, seed=seed).choices[0]
        words = whole.message.content.split(" ")
        if len(words) < 3:
            continue
        stop = " " + words[2]  # the third word with the space before it
        stopped = client.chat.completions.create(**ARGS, seed=seed, stop=[stop, "zzz"])
        cut = whole.message.content.find(stop)
        assert stopped.choices[0].message.content == whole.message.content[:cut]
        assert stopped.choices[0].finish_reason == "stop"
        streamed = joined(client.chat.completions.create(**ARGS, seed=seed, stop=stop, stream=True))
        assert streamed[0]["text"] == whole.message.content[:cut]
        assert streamed[0]["finish"] == "stop"
        return
    pytest.fail("no answer of three words in 8 seeds")


def test_a_stop_sequence_that_never_appears_changes_nothing(client):
    whole = client.chat.completions.create(**ARGS, seed=4)
    stopped = client.chat.completions.create(**ARGS, seed=4, stop="qqqq")
    assert stopped.choices[0].message.content == whole.choices[0].message.content
    assert stopped.choices[0].finish_reason == whole.choices[0].finish_reason


def test_the_first_stop_sequence_to_complete_wins():
    completion = Completion("a b c d", 3, 4, "length")
    # "b" is complete at the second token, before "a b c d" is; the answer keeps "a ".
    stopped = apply_stop(completion, ["a b c d", "b"])
    assert (stopped.text, stopped.completion_tokens, stopped.finish_reason) == ("a ", 2, "stop")
    # A sequence ending inside a word: the word was drawn, the answer is cut before it.
    assert apply_stop(completion, ["c"]).text == "a b "
    assert apply_stop(completion, ["a"]).text == ""
    assert pieces("a b c") == ["a", " b", " c"] and pieces("") == []
    assert "".join(pieces("a b ")) == "a b "


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"stop": 3}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": True, "stream_options": {"include_usage": 1}}, "stream_options"),
        ({"top_p": 2}, "top_p"),
    ],
)
def test_bad_stream_stop_and_top_p_are_400s_naming_the_parameter(client, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**ARGS, extra_body=extra)
    assert caught.value.body["param"].startswith(param)
