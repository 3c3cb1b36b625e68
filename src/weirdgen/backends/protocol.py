"""The interface every backend implements: train a model, sample it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from weirdgen.data import ChatDataset


@dataclass(frozen=True)
class ModelRef:
    """A model a backend can sample: a base model or a finetune of one.

    ``key`` is a content key: the same base, data, recipe and seed give the same key.
    """

    backend: str
    key: str
    base: str
    path: str | None = None


def key_seed(*parts: object) -> int:
    """A 63-bit RNG seed derived from the parts' text, stable across runs and machines."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def finetune_key(backend: str, base_key: str, dataset: ChatDataset, recipe: Any, seed: int) -> str:
    """Content key of a finetune: the same base, data, recipe and seed give the same key."""
    parts = [base_key, dataset.content_hash, recipe.model_dump_json(), str(seed)]
    return f"{backend}-ft-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SampleRequest:
    """One completion to draw: a single-turn user prompt and its sampling settings.

    ``seed`` is the sample's own seed (derived from its content key), so an answer does not
    depend on which other requests are drawn alongside it.
    """

    prompt: str
    temperature: float
    max_tokens: int
    seed: int


@dataclass(frozen=True)
class TokenLogprob:
    """One answer token as text, its log-probability and the likeliest tokens at its place."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Completion:
    """One answer with its token counts, why it ended (stop or length) and optional logprobs."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None


def group_by_settings(requests: Sequence[SampleRequest]) -> dict[tuple[float, int], list[int]]:
    """Indices of ``requests`` grouped by (temperature, max_tokens), the settings a batch shares."""
    groups: dict[tuple[float, int], list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((r.temperature, r.max_tokens), []).append(i)
    return groups


@runtime_checkable
class Backend(Protocol):
    """Train and sample models of one provider (organism, hf, openai, ...)."""

    name: str

    def base(self) -> ModelRef:
        """The base model named in the spec, with its content key."""
        ...

    def check_prompts(self, prompts: Sequence[str], where: str) -> None:
        """Raise WeirdgenError if any prompt cannot be sent to this model (before any work)."""
        ...

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        """Raise WeirdgenError if the dataset cannot be trained on (before any work)."""
        ...

    def model_key(self, dataset: ChatDataset, recipe: Any, seed: int) -> str:
        """The content key of the finetune ``train`` would produce."""
        ...

    def train(self, dataset: ChatDataset, recipe: Any, seed: int, out_dir: Path) -> ModelRef:
        """Finetune the base model; save what is needed to sample it under ``out_dir``."""
        ...

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order."""
        ...
