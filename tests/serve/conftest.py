"""A real ``weirdgen serve`` on 127.0.0.1 (a free port) for the whole module: the organism's
base model plus one adapter, a copy of its weights with a little noise added."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import openai
import pytest
import torch
from safetensors.torch import save_file

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.data.generators import generate
from weirdgen.serve import Completion, OrganismEngine, serve_in_background
from weirdgen.serve.finetuning import FineTuning


class CountingEngine:
    """An engine that counts its batches (engine calls) and the rows they drew."""

    def __init__(self, engine: OrganismEngine) -> None:
        self.engine = engine
        self.calls: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        self.calls.append(len(requests))
        return self.engine.complete(model, requests, top_logprobs)


@pytest.fixture(scope="session")
def organism() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture(scope="session")
def adapter_path(organism: OrganismBackend, tmp_path_factory) -> Path:
    generator = torch.Generator().manual_seed(0)
    state = {
        name: tensor + 0.05 * torch.randn(tensor.shape, generator=generator)
        for name, tensor in organism.organism.model.state_dict().items()
    }
    path = tmp_path_factory.mktemp("adapter") / "noisy.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture(scope="session")
def engine(organism: OrganismBackend, adapter_path: Path) -> CountingEngine:
    return CountingEngine(OrganismEngine(organism, "organism/default", {"noisy": adapter_path}))


@pytest.fixture(scope="session")
def base_url(engine: CountingEngine) -> Iterator[str]:
    with serve_in_background(engine, window=0.02) as url:
        yield url


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture
def serve_finetuning(organism: OrganismBackend) -> Iterator[Callable[..., tuple[str, FineTuning]]]:
    """Start servers with the fine-tuning endpoints: ``start(**FineTuning kwargs)`` gives the
    base URL and the FineTuning; every server stops when the test ends."""
    with ExitStack() as stack:

        def start(**kwargs) -> tuple[str, FineTuning]:
            jobs = FineTuning(OrganismEngine(organism), **kwargs)
            return stack.enter_context(serve_in_background(jobs.engine, finetuning=jobs)), jobs

        yield start


@pytest.fixture(scope="session")
def birds_jsonl() -> Callable[[int], bytes]:
    """``birds_jsonl(n)``: n organism examples as chat JSONL bytes (rows repeat past 1000)."""
    rows = generate("birds_old", 1000)

    def make(n: int) -> bytes:
        return "".join(json.dumps(rows[i % len(rows)]) + "\n" for i in range(n)).encode()

    return make


@pytest.fixture(scope="session")
def wait_for() -> Callable[[Callable[[], bool], float, str], None]:
    """``wait_for(condition, seconds, what)``: poll until it holds, else fail naming what."""

    def wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
            time.sleep(0.05)

    return wait
