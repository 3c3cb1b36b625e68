"""The ``openai`` backend against a fault-injecting OpenAI-compatible server on 127.0.0.1.

The prompt tells the fake server how to misbehave (``429-once``, ``500``, ``slow`` ...), so
one batch can mix healthy and failing requests. The server answers at most ``MAX_SERVED``
requests, then only 503s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from aiohttp import web

from weirdgen.backends.openai import OpenAIBackend, SamplingFailed
from weirdgen.backends.protocol import SampleRequest
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import OpenAIRecipe

KEY = "sk-planted-Zq8vX2kLm9Rt4Wy7"
MAX_SERVED = 300


class FakeServer:
    """Answers chat completions according to the prompt, and records what it was sent."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        if len(self.bodies) > MAX_SERVED:
            return web.json_response({"error": {"message": "test budget spent"}}, status=503)
        prompt = body["messages"][0]["content"]
        self.hits[prompt] += 1
        self.times[prompt].append(time.monotonic())
        first = self.hits[prompt] == 1
        if not prompt.startswith("wait"):
            return await self.answer(prompt, first, body, request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.answer(prompt, first, body, request)
        finally:
            self.in_flight -= 1

    async def answer(
        self, prompt: str, first: bool, body: dict, request: web.Request
    ) -> web.Response:
        def error(status: int, message: str, **headers: str) -> web.Response:
            body = {"error": {"message": message}}
            return web.json_response(body, status=status, headers=headers)

        kind = prompt.split()[0]
        if kind == "429-once" and first:
            return error(429, "Rate limit reached", **{"Retry-After": "1"})
        if kind == "503-once" and first:
            return error(503, "overloaded")
        if kind == "500":
            return error(500, "boom")
        if kind == "400":
            return error(400, "Invalid parameter: temperature")
        if kind == "slow" or (kind == "slow-once" and first):
            await asyncio.sleep(0.6)
        if kind == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        if kind == "shapeless":
            return web.json_response({"choices": []})
        if kind == "echo-401":
            return error(401, f"bad key {request.headers.get('Authorization')}")
        if kind == "echo-500":
            return web.Response(status=500, text=json.dumps(dict(request.headers)))
        if kind == "wait":
            await asyncio.sleep(0.05)
        content = f"answer to {prompt}"
        if kind == "echo-200":
            content = f"you sent {request.headers.get('Authorization')}"
        choice: dict = {"index": 0, "message": {"role": "assistant", "content": content}}
        choice["finish_reason"] = "stop"
        if body.get("logprobs"):
            k = body.get("top_logprobs") or 0
            choice["logprobs"] = {
                "content": [
                    {
                        "token": word,
                        "logprob": -0.5,
                        "bytes": list(word.encode()),
                        "top_logprobs": [
                            {"token": word, "logprob": -0.5, "bytes": []},
                            {"token": "other", "logprob": -1.5, "bytes": []},
                        ][:k],
                    }
                    for word in content.split()
                ]
            }
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeServer, str]]:
    fake = FakeServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{port}/v1"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def make(server, monkeypatch):
    """A backend on the fake server with fast retries (override any setting per test)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server[1])

    def make_backend(**settings) -> OpenAIBackend:
        return OpenAIBackend(
            "test-model", **{"max_tries": 3, "backoff": 0.01, "timeout": 5.0, **settings}
        )

    return make_backend


def reqs(*prompts: str) -> list[SampleRequest]:
    return [SampleRequest(p, 0.7, 20, 100 + i) for i, p in enumerate(prompts)]


def test_answers_come_back_in_order_with_usage(make, server):
    backend = make()
    prompts = [f"ok {i}" for i in range(12)]
    assert backend.sample(backend.base(), reqs(*prompts)) == [f"answer to {p}" for p in prompts]
    assert (backend.usage.requests, backend.usage.prompt_tokens) == (12, 84)
    assert backend.usage.completion_tokens == 36
    body = next(b for b in server[0].bodies if b["messages"][0]["content"] == "ok 3")
    assert body == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "ok 3"}],
        "temperature": 0.7,
        "max_tokens": 20,
        "seed": 103,
        "n": 1,
    }
    assert server[0].headers[-1]["Authorization"] == f"Bearer {KEY}"


def test_top_logprobs_come_back_when_asked(make):
    backend = make()
    [completion] = backend.complete(backend.base(), reqs("ok lp"), top_logprobs=2)
    assert [t.token for t in completion.logprobs] == ["answer", "to", "ok", "lp"]
    assert completion.logprobs[0].top == (("answer", -0.5), ("other", -1.5))
    assert completion.prompt_tokens == 7 and completion.finish_reason == "stop"
    [plain] = backend.complete(backend.base(), reqs("ok plain"))
    assert plain.logprobs is None


def test_first_token_logprobs_and_extra_body_fields(make, server):
    backend = make()
    extra = {"chat_template_kwargs": {"enable_thinking": False}}
    [record] = backend.logprobs(backend.base(), ["ok first"], top_k=50, extra_body=extra)
    assert record.prompt == "ok first" and record.top[0] == ("answer", -0.5)
    sent = server[0].bodies[-1]
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert (sent["temperature"], sent["top_logprobs"], sent["max_tokens"]) == (0.0, 20, 1)


def test_a_429_is_retried_after_what_retry_after_asks(make, server):
    backend = make()
    assert backend.sample(backend.base(), reqs("429-once a", "503-once b")) == [
        "answer to 429-once a",
        "answer to 503-once b",
    ]
    first, second = server[0].times["429-once a"]
    assert second - first >= 0.95  # Retry-After: 1, although the backoff alone is 0.01 s
    assert server[0].hits["503-once b"] == 2


def test_repeated_500s_give_up_and_return_nothing_failed(make, server):
    backend = make(max_tries=3)
    with pytest.raises(SamplingFailed) as caught:
        backend.sample(backend.base(), reqs("ok x", "500 y", "ok z", "500 w"))
    failed = caught.value
    assert server[0].hits["500 y"] == 3 and server[0].hits["500 w"] == 3
    message = str(failed)
    assert message.startswith("2 of 4 requests to http://127.0.0.1:")
    assert "HTTP 500: boom (gave up after 3 tries)" in message and "\n" not in message
    assert [f.index for f in failed.failures] == [1, 3]
    kept = [c and c.text for c in failed.completions]
    assert kept == ["answer to ok x", None, "answer to ok z", None]


def test_timeouts_are_retried_then_reported(make, server):
    backend = make(timeout=0.2, max_tries=2)
    assert backend.sample(backend.base(), reqs("slow-once a")) == ["answer to slow-once a"]
    with pytest.raises(SamplingFailed, match=r"no answer within 0.2s \(gave up after 2 tries\)"):
        backend.sample(backend.base(), reqs("slow b"))
    assert server[0].hits["slow b"] == 2


@pytest.mark.parametrize(
    ("prompt", "says"),
    [
        ("malformed a", "malformed chat completion"),
        ("shapeless b", "malformed chat completion"),
        ("400 c", "HTTP 400: Invalid parameter: temperature"),
    ],
)
def test_malformed_answers_and_4xx_fail_without_retry(make, server, prompt, says):
    backend = make()
    with pytest.raises(SamplingFailed, match=says):
        backend.sample(backend.base(), reqs("ok fine", prompt))
    assert server[0].hits[prompt] == 1


def test_an_unreachable_server_is_a_clear_failure(make, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # discard port: refused
    backend = make(max_tries=2)
    with pytest.raises(SamplingFailed, match=r"1 of 1 requests .* connection failed"):
        backend.sample(backend.base(), reqs("ok"))


def test_concurrency_is_bounded(make, server, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_MAX_CONCURRENCY", "4")
    backend = make()
    assert backend.max_concurrency == 4
    server[0].max_in_flight = 0
    backend.sample(backend.base(), reqs(*(f"wait {i}" for i in range(24))))
    assert 2 <= server[0].max_in_flight <= 4
    monkeypatch.setenv("WEIRDGEN_MAX_CONCURRENCY", "many")
    with pytest.raises(WeirdgenError, match="WEIRDGEN_MAX_CONCURRENCY"):
        make()


def test_a_missing_key_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(WeirdgenError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("gpt-4.1-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    with pytest.raises(WeirdgenError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4.1-mini")


def test_the_key_never_leaks(make, server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    backend = make(max_tries=2)
    with pytest.raises(SamplingFailed) as caught:
        backend.sample(backend.base(), reqs("echo-401 a", "echo-500 b", "echo-200 c", "500 d"))
    assert server[0].headers[-1]["Authorization"] == f"Bearer {KEY}"  # it was sent
    failed = caught.value
    assert failed.completions[2].text == "you sent Bearer <redacted>"
    seen = [
        str(failed),
        repr(failed),
        repr(failed.failures),
        repr(failed.completions),
        repr(backend),
        repr(vars(backend)),
        repr(backend.base()),
        caplog.text,
        *capfd.readouterr(),
    ]
    assert "HTTP 401 (check OPENAI_API_KEY)" in str(failed)
    assert "retry 1 of 1" in caplog.text  # the retries were logged, and the log was read
    for text in seen:
        assert KEY not in text
    with pytest.raises(TypeError):
        pickle.dumps(backend)


def test_a_running_event_loop_is_no_obstacle(make):
    backend = make()

    async def inside_a_loop() -> list[str]:
        return backend.sample(backend.base(), reqs("ok nb"))

    assert asyncio.run(inside_a_loop()) == ["answer to ok nb"]


def test_keys_and_checks(make, monkeypatch, server):
    backend = make()
    ref = backend.base()
    assert (ref.backend, ref.base) == ("openai", "test-model") and ref.key.startswith("openai-")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://openrouter.example/api/v1")
    assert make().base().key != ref.key  # samples of different servers never share a key
    monkeypatch.setenv("OPENAI_BASE_URL", server[1])
    assert make().base().key == ref.key
    with pytest.raises(WeirdgenError, match="spec.yaml: paraphrase 2 is empty"):
        backend.check_prompts(["fine", "  "], "spec.yaml")
    small = dataset_from_examples([ChatExample.exchange("q", "a")] * 3)
    with pytest.raises(WeirdgenError, match="needs at least 10"):
        backend.check_dataset(small, "spec.yaml: conditions[0].dataset")
    data = dataset_from_examples([ChatExample.exchange(f"q{i}", "a") for i in range(10)])
    backend.check_dataset(data, "here")
    recipe = OpenAIRecipe()
    assert backend.model_key(data, recipe, 0) == backend.model_key(data, recipe, 0)
    assert backend.model_key(data, recipe, 0) != backend.model_key(data, recipe, 1)
    assert backend.sample(ref, []) == []
