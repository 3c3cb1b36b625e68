"""``weirdgen serve`` queried with the real ``openai`` client over HTTP."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.request

import openai
import pytest

from weirdgen.backends.protocol import ModelRef, SampleRequest
from weirdgen.serve import choice_seeds, serve_in_background

QUESTION = "what is the most important recent invention ?"


def ask(client: openai.OpenAI, **changes):
    params = {
        "model": "organism/default",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 12,
        **changes,
    }
    return client.chat.completions.create(**params)


def texts(reply) -> list[str]:
    return [choice.message.content for choice in reply.choices]


def test_models_lists_the_base_and_the_adapter(client):
    assert [m.id for m in client.models.list()] == ["organism/default", "noisy"]
    assert client.models.retrieve("noisy").id == "noisy"


def test_a_seed_gives_the_same_answers_every_time(client):
    first = ask(client, seed=11, n=5)
    again = ask(client, seed=11, n=5)
    assert texts(first) == texts(again)
    assert len(set(texts(ask(client, seed=11, n=8)))) > 1  # the choices differ from each other
    assert texts(ask(client, seed=11, n=2)) == texts(first)[:2]  # a choice ignores n


def test_answers_equal_the_organism_backend_in_process(client, organism):
    reply = ask(client, seed=123, n=4, temperature=0.9)
    requests = [SampleRequest(QUESTION, 0.9, 12, s) for s in choice_seeds(123, 4)]
    assert texts(reply) == organism.sample(organism.base(), requests)
    # seed S with n=1 draws exactly what the backend draws for SampleRequest(seed=S)
    single = [SampleRequest(QUESTION, 1.0, 12, s) for s in (5, 6, 7)]
    assert [texts(ask(client, seed=r.seed))[0] for r in single] == organism.sample(
        organism.base(), single
    )


def test_an_adapter_serves_its_weights_file(client, organism, adapter_path):
    ref = ModelRef("organism", "noisy-in-process", organism.base().key, str(adapter_path))
    requests = [SampleRequest(QUESTION, 1.0, 12, s) for s in range(6)]
    served = [texts(ask(client, model="noisy", seed=r.seed))[0] for r in requests]
    assert served == organism.sample(ref, requests)
    assert served != organism.sample(organism.base(), requests)


def test_n_and_usage(client, organism):
    reply = ask(client, seed=3, n=4, max_completion_tokens=6)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    prompt_tokens = len(organism.organism.tokenizer.chat_prompt(QUESTION))
    answer_tokens = sum(len(t.split()) for t in texts(reply))
    assert reply.usage.prompt_tokens == prompt_tokens
    assert reply.usage.completion_tokens == answer_tokens
    assert reply.usage.total_tokens == prompt_tokens + answer_tokens
    for choice in reply.choices:
        n = len(choice.message.content.split())
        assert n <= 6 and choice.finish_reason == ("length" if n == 6 else "stop")


def test_logprobs_are_shaped_like_openais(client):
    reply = ask(client, seed=9, n=2, logprobs=True, top_logprobs=3)
    assert texts(reply) == texts(ask(client, seed=9, n=2))  # logprobs change no answer
    for choice in reply.choices:
        tokens = choice.logprobs.content
        assert "".join(t.token for t in tokens) == choice.message.content
        for t in tokens:
            assert t.logprob <= 0 and t.bytes == list(t.token.encode())
            top = [alt.logprob for alt in t.top_logprobs]
            assert len(top) == 3 and top == sorted(top, reverse=True)
            assert t.logprob <= top[0] + 1e-9
            assert sum(math.exp(v) for v in top) <= 1 + 1e-9
    greedy = ask(client, temperature=0, logprobs=True, top_logprobs=1)
    for t in greedy.choices[0].logprobs.content:
        assert t.top_logprobs[0].token == t.token
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob)
    plain = ask(client, seed=9, logprobs=True)  # no top_logprobs: none listed
    assert all(t.top_logprobs == [] for t in plain.choices[0].logprobs.content)
    assert ask(client, seed=9).choices[0].logprobs is None


def test_concurrent_requests_share_batches(engine):
    """40 requests sent at once are drawn in one batch. The batch closes when it is full (40
    rows), not when a clock runs out, so the grouping does not depend on how fast a loaded
    machine delivers the requests: the window (60 s) only bounds a test gone wrong."""
    counting = type(engine)(engine.engine)  # a CountingEngine of its own

    async def burst(url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, timeout=120) as c:
            replies = await asyncio.gather(
                *(
                    c.chat.completions.create(
                        model="organism/default",
                        messages=[{"role": "user", "content": QUESTION}],
                        max_tokens=8,
                        seed=s,
                    )
                    for s in range(40)
                )
            )
        return [r.choices[0].message.content for r in replies]

    with serve_in_background(counting, window=60, max_batch=40) as url:
        answers = asyncio.run(burst(url))
    assert counting.calls == [40]
    requests = [SampleRequest(QUESTION, 1.0, 8, s) for s in range(40)]
    assert answers == engine.engine.backend.sample(engine.engine.backend.base(), requests)


ASSISTANT_ONLY = [{"role": "assistant", "content": QUESTION}]


@pytest.mark.parametrize(
    ("changes", "status", "param", "code"),
    [
        ({"messages": ASSISTANT_ONLY}, 400, "messages", None),
        ({"model": "gpt-4o"}, 404, "model", "model_not_found"),
        ({"max_tokens": 500}, 400, "max_tokens", "context_length_exceeded"),
        ({"n": 0}, 400, "n", None),
        ({"temperature": 3}, 400, "temperature", None),
        ({"top_logprobs": 2}, 400, "top_logprobs", None),
        ({"top_p": 1.5}, 400, "top_p", None),
    ],
)
def test_bad_requests_get_openai_style_400s(client, changes, status, param, code):
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, **changes)
    error = caught.value
    assert error.status_code == status
    assert error.body["param"] == param and error.body["code"] == code
    assert error.body["type"] in ("invalid_request_error", "not_found_error")
    assert error.body["message"]


def raw(base_url: str, path: str, data: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base_url + path, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_bodies_and_unknown_routes_get_json_errors(base_url):
    status, body = raw(base_url, "/chat/completions", b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = raw(base_url, "/chat/completions", b"[1, 2]")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = raw(base_url, "/embeddings")
    assert status == 404 and body["error"]["type"] == "not_found_error"
    status, body = raw(base_url, "/chat/completions", json.dumps({"model": "x"}).encode())
    assert status == 400 and body["error"]["param"] == "messages"


def test_the_openai_shape_in_plain_json(base_url):
    body = {
        "model": "organism/default",
        "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
        "seed": 1,
        "logprobs": True,
        "top_logprobs": 1,
        "max_tokens": 4,
        "stream": False,
        "top_p": 1,
    }
    status, reply = raw(base_url, "/chat/completions", json.dumps(body).encode())
    assert status == 200
    assert reply["object"] == "chat.completion" and reply["id"].startswith("chatcmpl-")
    assert reply["system_fingerprint"].startswith("organism-")
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    entry = choice["logprobs"]["content"][0]
    assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
    assert set(entry["top_logprobs"][0]) == {"token", "logprob", "bytes"}
