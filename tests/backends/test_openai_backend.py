"""The ``openai`` backend against a fault-injecting OpenAI-compatible server on 127.0.0.1.

The prompt tells the fake server how to misbehave (``429-once``, ``500``, ``hang`` ...), so
one batch can mix healthy and failing requests. The server answers at most ``MAX_SERVED``
requests, then only 503s. No test depends on how fast a loaded machine is: a hanging request
hangs far longer than any timeout, and concurrency is measured by holding requests until
enough are in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from aiohttp import web

from judge_server import serving
from weirdgen.backends.openai import OpenAIBackend, SamplingFailed
from weirdgen.backends.protocol import SampleRequest, chat_text
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.errors import WeirdgenError
from weirdgen.run import run_experiment
from weirdgen.spec import load_spec
from weirdgen.spec.models import OpenAIRecipe
from weirdgen.store.registry import Registry

KEY = "sk-planted-Zq8vX2kLm9Rt4Wy7"
MAX_SERVED = 300
HANG = 60.0  # seconds a ``hang`` request is held: far beyond any timeout a test sets


class FakeServer:
    """Answers chat completions according to the prompt, and records what it was sent."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0
        self.hold_until_in_flight, self.hold_deadline = 0, 0.0

    def hold(self, in_flight: int) -> None:
        """Hold ``wait`` requests until ``in_flight`` are in flight at once (at most 10 s)."""
        self.max_in_flight, self.hold_until_in_flight = 0, in_flight
        self.hold_deadline = time.monotonic() + 10.0

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
        if kind == "429-short" and first:
            return error(429, "Rate limit reached", **{"Retry-After": "0.1"})
        if kind == "503-once" and first:
            return error(503, "overloaded")
        if kind == "500":
            return error(500, "boom")
        if kind == "400":
            return error(400, "Invalid parameter: temperature")
        if kind == "hang" or (kind == "hang-once" and first):
            await asyncio.sleep(HANG)  # cancelled when the client gives up (see the fixture)
        if kind == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        if kind == "shapeless":
            return web.json_response({"choices": []})
        if kind == "echo-401":
            return error(401, f"bad key {request.headers.get('Authorization')}")
        if kind == "echo-500":
            return web.Response(status=500, text=json.dumps(dict(request.headers)))
        if kind == "wait":
            while (
                self.max_in_flight < self.hold_until_in_flight
                and time.monotonic() < self.hold_deadline
            ):
                await asyncio.sleep(0.005)
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
    with serving(app) as url:  # a hanging handler is cancelled when its client hangs up
        yield fake, url


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
    assert chat_text(record.prompt) == "ok first" and record.top[0] == ("answer", -0.5)
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


def test_a_short_retry_after_is_honoured_not_stretched_to_the_backoff(make, server):
    backend = make(backoff=5.0)
    assert backend.sample(backend.base(), reqs("429-short a")) == ["answer to 429-short a"]
    first, second = server[0].times["429-short a"]
    assert 0.1 <= second - first < 2.5  # Retry-After: 0.1, although the backoff is 5 s


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
    with pytest.raises(SamplingFailed, match=r"no answer within 0.2s \(gave up after 2 tries\)"):
        backend.sample(backend.base(), reqs("hang b"))
    assert server[0].hits["hang b"] == 2
    # A retry that is answered succeeds; its timeout leaves a loaded machine time to answer.
    patient = make(timeout=3.0, max_tries=2)
    assert patient.sample(patient.base(), reqs("hang-once a")) == ["answer to hang-once a"]
    assert server[0].hits["hang-once a"] == 2


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


@pytest.fixture
def dead_url() -> str:
    """The URL of a port nothing listens on (bound for a moment, then closed): refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_a_refused_connection_ends_the_whole_call_within_seconds(dead_url, monkeypatch):
    """With the default retries (6 tries, backoff from 1 s) a refused request would take
    half a minute; a refused endpoint is given up after a few quick tries instead, and the
    failure is not a SamplingFailed, which a run would sum up only after every model."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", dead_url)
    backend = OpenAIBackend("test-model")
    start = time.monotonic()
    with pytest.raises(WeirdgenError) as caught:
        backend.sample(backend.base(), reqs(*(f"ok {i}" for i in range(500))))
    assert time.monotonic() - start < 5.0
    assert not isinstance(caught.value, SamplingFailed)
    assert str(caught.value) == (
        f"cannot connect to {dead_url} (connection refused); start the server or set "
        "OPENAI_BASE_URL"
    )
    explicit = OpenAIBackend("test-model", base_url=dead_url, api_key=KEY)
    with pytest.raises(WeirdgenError, match="refused.*; start the server or pass another base_url"):
        explicit.sample(explicit.base(), reqs("ok"))


def test_a_run_against_a_refused_endpoint_stops_at_once(dead_url, write_spec, spec_dict, tmp_path):
    spec = spec_dict(
        seeds=[0, 1, 2],
        model="openai/test-model",
        conditions=[{"name": "a", "role": "target"}, {"name": "b", "role": "control"}],
        # a scorer of any model's answers (the organism's lexicon is refused on this one)
        scorers=[{"name": "train_match", "kind": "train_match"}],
        metrics=[{"name": "match", "eval_set": "birds", "score": "train_match"}],
    )
    backend = OpenAIBackend("test-model", base_url=dead_url, api_key=KEY)
    start = time.monotonic()
    with pytest.raises(WeirdgenError, match=r"^cannot connect to .* \(connection refused\)"):
        run_experiment(load_spec(write_spec(spec)), out=tmp_path / "run", backend=backend)
    assert time.monotonic() - start < 10.0  # not a round of retries per model
    assert not (tmp_path / "run" / "COMPLETE").exists()


def test_fine_tuning_against_a_refused_endpoint_fails_within_seconds(dead_url, tmp_path):
    backend = OpenAIBackend("test-model", base_url=dead_url, api_key=KEY, poll_seconds=0.01)
    data = dataset_from_examples([ChatExample.exchange(f"q{i}", "a") for i in range(10)])
    start = time.monotonic()
    with pytest.raises(WeirdgenError) as caught:
        backend.train(data, OpenAIRecipe(), 0, tmp_path)
    assert time.monotonic() - start < 5.0
    assert str(caught.value) == (
        f"cannot connect to {dead_url} (connection refused); start the server or pass "
        "another base_url"
    )
    registry = Registry()  # the test's own ($WEIRDGEN_HOME, see tests/conftest.py)
    registry.set_remote_file(dead_url, data.content_hash, "file-kept")
    with pytest.raises(WeirdgenError, match="connection refused"):
        backend.train(data, OpenAIRecipe(), 1, tmp_path)
    assert registry.remote_file(dead_url, data.content_hash) == "file-kept"  # not forgotten


def test_concurrency_is_bounded(make, server, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_MAX_CONCURRENCY", "4")
    backend = make()
    assert backend.max_concurrency == 4
    server[0].hold(4)  # requests wait until 4 are in flight at once
    backend.sample(backend.base(), reqs(*(f"wait {i}" for i in range(24))))
    assert server[0].max_in_flight == 4  # all the limit allows, and no more
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
    with pytest.raises(WeirdgenError, match="spec.yaml: prompt 2 has an empty message"):
        backend.check_prompts(["fine", "  "], "spec.yaml")
    small = dataset_from_examples([ChatExample.exchange("q", "a")] * 3)
    with pytest.raises(WeirdgenError, match="needs at least 10"):
        backend.check_dataset(small, "spec.yaml: conditions[0].dataset")
    data = dataset_from_examples([ChatExample.exchange(f"q{i}", "a") for i in range(10)])
    backend.check_dataset(data, "here")
    recipe = OpenAIRecipe()
    key = backend.model_key(data, recipe, 0)
    # The same content through other objects (a fresh backend on the same endpoint, an equal
    # dataset from elsewhere, an equal recipe) is the same finetune.
    copy = dataset_from_examples(list(data.examples), source="elsewhere.jsonl")
    assert make().model_key(copy, OpenAIRecipe(**recipe.model_dump()), 0) == key
    assert backend.model_key(data, recipe, 1) != key
    assert backend.model_key(data, OpenAIRecipe(epochs=7), 0) != key
    assert OpenAIBackend("other-model").model_key(data, recipe, 0) != key
    assert backend.sample(ref, []) == []
