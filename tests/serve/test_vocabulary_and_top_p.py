"""Words the organism cannot read are left out and named, not a 400 (llmcomp probes an
endpoint with "Hi" and gives up on a 400), unless the server is strict; top_p samples the
nucleus, on every endpoint, exactly as the organism backend does in process."""

from __future__ import annotations

import logging

import openai
import pytest

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import OrganismEngine, serve_in_background
from weirdgen.serve.api import top_p_for
from weirdgen.serve.engine import RequestError

MODEL = "organism/default"
QUESTION = "what is the most important recent invention ?"


def chat(client, content: str, **extra):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=6, **extra
    )


def test_a_probe_of_words_outside_the_vocabulary_is_answered_and_they_are_named(client, caplog):
    with caplog.at_level(logging.WARNING, logger="weirdgen.serve"):
        probe = chat(client, "Hi")
    assert probe.choices[0].message.content is not None
    assert probe.model_extra["weirdgen"] == {"dropped_words": ["hi"]}
    lines = [r.getMessage() for r in caplog.records if "vocabulary" in r.getMessage()]
    assert len(lines) == 1 and "'hi'" in lines[0] and "--strict-vocab" in lines[0]


def test_the_answer_is_the_answer_to_the_prompt_without_those_words(client):
    mixed = chat(client, f"xyzzy plugh {QUESTION}", seed=11)
    plain = chat(client, QUESTION, seed=11)
    assert mixed.choices[0].message.content == plain.choices[0].message.content
    assert mixed.model_extra["weirdgen"]["dropped_words"] == ["xyzzy", "plugh"]
    assert "weirdgen" not in (plain.model_extra or {})  # nothing said when nothing dropped
    text = client.completions.create(model=MODEL, prompt=f"Hi {QUESTION}", max_tokens=6, seed=11)
    assert text.model_extra["weirdgen"] == {"dropped_words": ["hi"]}
    response = client.responses.create(model=MODEL, input=f"Hi {QUESTION}", extra_body={"seed": 11})
    assert response.model_extra["weirdgen"] == {"dropped_words": ["hi"]}


def test_a_strict_server_refuses_them_with_a_400_naming_them(organism):
    with serve_in_background(OrganismEngine(organism, strict_vocab=True)) as url:
        with openai.OpenAI(base_url=url, api_key="x", max_retries=0) as strict:
            with pytest.raises(openai.BadRequestError) as caught:
                chat(strict, "Hi")
    assert caught.value.body["param"] == "messages"
    assert "words outside the organism's vocabulary: 'hi'" in caught.value.body["message"]


@pytest.mark.parametrize("top_p", [0.3, 0.8])
def test_top_p_draws_what_the_backend_draws_in_process(client, engine, top_p):
    served = chat(client, QUESTION, seed=5, top_p=top_p, n=4)
    backend = engine.engine.backend
    seeds = [5] + [c for c in _choice_seeds(5, 4)[1:]]
    requests = [SampleRequest(QUESTION, 1.0, 6, s, top_p) for s in seeds]
    assert [c.message.content for c in served.choices] == backend.sample(backend.base(), requests)


def test_a_tiny_top_p_is_the_most_likely_answer_on_every_endpoint(client):
    greedy = chat(client, QUESTION, temperature=0).choices[0].message.content
    nucleus = chat(client, QUESTION, seed=3, top_p=1e-9, n=3)
    assert {c.message.content for c in nucleus.choices} == {greedy}
    text = client.completions.create(model=MODEL, prompt=QUESTION, max_tokens=6, seed=3, top_p=1e-9)
    assert text.choices[0].text == greedy
    response = client.responses.create(
        model=MODEL, input=QUESTION, max_output_tokens=6, top_p=1e-9, extra_body={"seed": 3}
    )
    assert response.output_text == greedy and response.top_p == 1e-9
    streamed = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=6,
        seed=3,
        top_p=1e-9,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == greedy


def test_an_engine_that_cannot_sample_the_nucleus_refuses_top_p():
    class Plain:  # an hf model's engine samples plainly
        pass

    assert top_p_for(Plain(), None) == 1.0 and top_p_for(Plain(), 1) == 1.0
    with pytest.raises(RequestError, match="'top_p' is not supported for this model"):
        top_p_for(Plain(), 0.5)


def _choice_seeds(seed: int, n: int) -> list[int]:
    from weirdgen.serve.api import choice_seeds

    return choice_seeds(seed, n)
