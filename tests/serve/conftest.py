"""A real ``weirdgen serve`` on 127.0.0.1 (a free port) for the whole module: the organism's
base model plus one adapter, a copy of its weights with a little noise added."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import openai
import pytest
import torch
from safetensors.torch import save_file

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import Completion, OrganismEngine, serve_in_background


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
