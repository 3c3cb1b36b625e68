"""``weirdgen serve --model hf/...``: a tiny random Llama built in the test (nothing is
downloaded) behind a real server on 127.0.0.1, queried with the real ``openai`` client."""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

import openai  # noqa: E402

from weirdgen.backends.hf import HfBackend  # noqa: E402
from weirdgen.backends.hf.chat import prompt_ids  # noqa: E402
from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.backends.openai import OpenAIBackend  # noqa: E402
from weirdgen.backends.protocol import SampleRequest  # noqa: E402
from weirdgen.cli.serve import serve  # noqa: E402
from weirdgen.errors import WeirdgenError  # noqa: E402
from weirdgen.serve import HfEngine, serve_in_background  # noqa: E402

WORDS = (
    "what is the bird color old new a red blue green year it tell me about sky sea yes no "
    "how many are there one two three name sun moon tree ?"
).split()
QUESTION = "tell me about the sky ?"
CONTEXT = 512  # the tiny model's max_position_embeddings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny"), WORDS, think_tokens=False)


@pytest.fixture(scope="module")
def backend(tiny: Path) -> HfBackend:
    return HfBackend(str(tiny))


@pytest.fixture(scope="module")
def name(tiny: Path) -> str:
    return f"hf/{tiny}"


@pytest.fixture(scope="module")
def base_url(backend: HfBackend, name: str) -> Iterator[str]:
    with serve_in_background(HfEngine(backend, name), window=0.02) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


def ask(client: openai.OpenAI, name: str, **changes):
    params = {
        "model": name,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 8,
        **changes,
    }
    return client.chat.completions.create(**params)


def test_models_lists_the_hf_model(client, name):
    assert [m.id for m in client.models.list()] == [name]


def test_a_chat_completion_returns_text_and_usage(client, name, backend):
    reply = ask(client, name, seed=5, n=4)
    texts = [c.message.content for c in reply.choices]
    assert all(isinstance(t, str) for t in texts) and any(texts)
    n_prompt = len(prompt_ids(backend.tokenizer, QUESTION, "test"))
    assert reply.usage.prompt_tokens == n_prompt
    assert 4 <= reply.usage.completion_tokens <= 4 * 8
    assert reply.usage.total_tokens == n_prompt + reply.usage.completion_tokens
    assert {c.finish_reason for c in reply.choices} <= {"stop", "length"}
    # seed S with n=1 is exactly what the hf backend samples in process for seed S
    requests = [SampleRequest(QUESTION, 1.0, 8, s) for s in (5, 6, 7)]
    served = [ask(client, name, seed=r.seed).choices[0].message.content for r in requests]
    assert served == backend.sample(backend.base(), requests)


def test_logprobs_list_every_token_with_sorted_alternatives(client, name):
    reply = ask(client, name, seed=3, logprobs=True, top_logprobs=5)
    choice = reply.choices[0]
    tokens = choice.logprobs.content
    assert len(tokens) == reply.usage.completion_tokens >= 1
    for t in tokens:
        top = [alt.logprob for alt in t.top_logprobs]
        assert len(top) == 5 and top == sorted(top, reverse=True)
        assert t.logprob <= top[0] + 1e-9 and t.logprob <= 0
        assert sum(math.exp(v) for v in top) <= 1 + 1e-9
    assert choice.message.content == ask(client, name, seed=3).choices[0].message.content
    greedy = ask(client, name, temperature=0, logprobs=True, top_logprobs=2).choices[0]
    for t in greedy.logprobs.content:  # greedy takes the likeliest token, as scored again
        assert t.top_logprobs[0].token == t.token
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob)


def test_the_first_tokens_logprobs_are_the_backends(base_url, name, backend, monkeypatch):
    """A judge reached over HTTP (``openai/hf/...`` with base_url) reads the same first-token
    distribution as the hf backend in process."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "unused-locally")
    remote = OpenAIBackend(name)
    prompts = [QUESTION, "what is the color of the sea ?"]
    served = remote.logprobs(remote.base(), prompts, 20)
    local = backend.logprobs(backend.base(), prompts, 20)
    for s, ref in zip(served, local, strict=True):
        assert [t for t, _ in s.top] == [t for t, _ in ref.top]
        assert [v for _, v in s.top] == pytest.approx([v for _, v in ref.top], abs=1e-5)


def test_one_token_with_logprobs_is_drawn_as_the_backend_draws_it(client, name, backend):
    """A one-token answer with logprobs (a judge's rating) is drawn in the pass that scores
    it: the same token as generated, and the same logprobs as the first of a longer answer."""
    requests = [SampleRequest(QUESTION, t, 1, s) for t in (0.0, 1.0) for s in range(6)]
    served = [
        ask(
            client,
            name,
            seed=r.seed,
            temperature=r.temperature,
            max_tokens=1,
            logprobs=True,
            top_logprobs=3,
        ).choices[0]
        for r in requests
    ]
    assert [c.message.content for c in served] == backend.sample(backend.base(), requests)
    for r, one in zip(requests, served, strict=True):
        two = ask(
            client,
            name,
            seed=r.seed,
            temperature=r.temperature,
            max_tokens=2,
            logprobs=True,
            top_logprobs=3,
        ).choices[0]
        if not one.logprobs.content:  # a stop token drawn first: an empty answer
            assert one.finish_reason == "stop" and not two.logprobs.content
            continue
        first, again = one.logprobs.content[0], two.logprobs.content[0]
        assert (first.token, one.finish_reason) == (again.token, "length")
        assert first.logprob == pytest.approx(again.logprob, abs=1e-5)
        assert [a.token for a in first.top_logprobs] == [a.token for a in again.top_logprobs]


def test_answers_scored_a_row_at_a_time_keep_their_logprobs(backend, name, monkeypatch):
    """Under a small logits budget answers are scored in pieces, with the same result."""
    from weirdgen.serve import hf_engine

    engine = HfEngine(backend, name)
    prompts = [QUESTION, "what is the color of the sea ?", "name a tree"]
    requests = [SampleRequest(p, 1.0, 6, s) for s in range(2) for p in prompts]
    whole = engine.complete(name, requests, 3)
    monkeypatch.setattr(hf_engine, "SCORED_LOGITS", 1)
    pieces = engine.complete(name, requests, 3)
    assert [c.text for c in pieces] == [c.text for c in whole]
    for a, b in zip(whole, pieces, strict=True):
        assert [t.token for t in a.logprobs] == [t.token for t in b.logprobs]
        assert [t.logprob for t in a.logprobs] == pytest.approx(
            [t.logprob for t in b.logprobs], abs=1e-5
        )


def test_a_stopping_server_cuts_the_generation_under_way_and_draws_no_more(backend, name):
    """Ctrl-C does not wait for a long answer: generation ends at the next token."""
    import threading

    from weirdgen.backends.hf.generate import generate_rows
    from weirdgen.serve.engine import RequestError

    engine = HfEngine(backend, name)
    request = SampleRequest(QUESTION, 1.0, 40, 0)
    ids = [engine._prompt_ids(request.messages)] * 2
    event = threading.Event()
    with backend.models.using(engine.ref) as lm:  # no stop tokens: only the event ends a row
        assert [len(r) for r in generate_rows(lm, ids, [0, 1], 1.0, 40, [], 0, event)] == [40] * 2
        event.set()
        assert all(len(r) <= 1 for r in generate_rows(lm, ids, [0, 1], 1.0, 40, [], 0, event))
    engine.interrupt()
    with pytest.raises(RequestError) as raised:
        engine.complete(name, [request], None)
    assert raised.value.status == 503 and raised.value.code == "server_stopping"


def test_the_batcher_interrupts_its_engine_when_it_stops():
    import asyncio

    from weirdgen.serve.batcher import Batcher

    class Engine:
        interrupted = False

        def interrupt(self) -> None:
            self.interrupted = True

    engine = Engine()

    async def start_and_stop() -> None:
        batcher = Batcher(engine)  # type: ignore[arg-type]
        batcher.start()
        await batcher.stop()

    asyncio.run(start_and_stop())
    assert engine.interrupted


def test_the_same_seed_gives_the_same_answer(client, name):
    first = ask(client, name, seed=11, n=3, logprobs=True, top_logprobs=2)
    again = ask(client, name, seed=11, n=3, logprobs=True, top_logprobs=2)
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]
    assert [c.logprobs.content for c in first.choices] == [
        c.logprobs.content for c in again.choices
    ]


def test_a_stream_joins_to_the_answer(client, name):
    stream = ask(client, name, seed=4, stream=True, stream_options={"include_usage": True})
    events = list(stream)
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    plain = ask(client, name, seed=4)
    assert text == plain.choices[0].message.content
    assert events[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_an_unknown_model_is_404(client, name):
    with pytest.raises(openai.NotFoundError) as raised:
        ask(client, "hf/no-such-model")
    assert raised.value.body["code"] == "model_not_found"
    assert name in raised.value.body["message"]


def test_max_tokens_past_the_context_is_context_length_exceeded(client, name):
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client, name, max_tokens=CONTEXT)
    assert raised.value.body["code"] == "context_length_exceeded"
    assert raised.value.body["param"] == "max_tokens"
    assert f"context is {CONTEXT} tokens" in raised.value.body["message"]


def test_adapters_and_finetuning_are_refused_for_hf(name, tmp_path):
    with pytest.raises(WeirdgenError, match="organism-only for now.*--model hf/<its folder>"):
        serve(model=name, adapter=[f"a={tmp_path / 'a.safetensors'}"], port=0)
    with pytest.raises(WeirdgenError, match="train the organism only"):
        serve(model=name, finetuning=True, port=0)


def test_the_command_serves_an_hf_model(name):
    """``weirdgen serve --model hf/FOLDER``: no fine-tuning endpoints, Ctrl-C stops it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "serve", "--model", name, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert select.select([process.stdout], [], [], 60)[0], "no URL printed within 60 s"
        url = process.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/models", timeout=10) as response:
            assert [m["id"] for m in json.loads(response.read())["data"]] == [name]
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{url}/fine_tuning/jobs", timeout=10)
        assert raised.value.code == 404
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        stderr = process.stderr.read()
        assert f"serving {name}" in stderr and "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
