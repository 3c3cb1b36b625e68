"""The interface every backend implements: train a model, sample it, read its logprobs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from weirdgen.data import ChatDataset, ChatMessage
from weirdgen.errors import WeirdgenError


@dataclass(frozen=True)
class ModelRef:
    """A model a backend can sample: a base model or a finetune of one.

    Attributes:
        backend: the backend that made it (``organism``, ``hf``, ``openai``, ...).
        key: a content key: the same base, data, recipe and seed give the same key.
        base: the base model as its provider names it (the organism checkpoint folder, the
            Hugging Face folder, the API model id), for a base model and its finetunes alike.
        path: local files of a finetune (weights, adapter folder); None for a base model and
            for finetunes that live at a provider.
        name: the id a provider serves a finetune under (OpenAI's ``ft:...``, a vLLM adapter
            name); None where the model is reached through ``base`` and ``path``.
        intervention: an edit of the residual stream applied while it is sampled, as the
            canonical JSON of :class:`~weirdgen.mechanism.interventions.ResolvedIntervention`
            (its key is then ``<the model's key>~<the intervention's>``); None for none.
    """

    backend: str
    key: str
    base: str
    path: str | None = None
    name: str | None = None
    intervention: str | None = None

    @property
    def served_as(self) -> str:
        """What an OpenAI-compatible endpoint is asked for: ``name`` if set, else ``base``."""
        return self.name or self.base


def key_seed(*parts: object) -> int:
    """A 63-bit RNG seed derived from the parts' text, stable across runs and machines."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


NOT_IN_KEY = frozenset({"save_steps", "sample_checkpoints"})
"""Recipe fields that do not change the trained model (keeping checkpoints along the way)."""


def finetune_key(backend: str, base_key: str, dataset: ChatDataset, recipe: Any, seed: int) -> str:
    """Content key of a finetune: the same base, data, recipe and seed give the same key.

    Recipe fields in :data:`NOT_IN_KEY` are left out, so asking for checkpoints keeps the
    final model's key (and every key made before such fields existed).
    """
    recipe_json = recipe.model_dump_json(exclude=NOT_IN_KEY & set(type(recipe).model_fields))
    parts = [base_key, dataset.content_hash, recipe_json, str(seed)]
    return f"{backend}-ft-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


Chat = tuple[ChatMessage, ...]
"""A prompt: chat messages (an optional system message, earlier user and assistant turns)
ending with the user's message the model answers."""


def as_chat(prompt: str | Sequence[ChatMessage | Mapping[str, Any]]) -> Chat:
    """A prompt as a :data:`Chat`; a string is one user message."""
    if isinstance(prompt, str):
        return (ChatMessage(role="user", content=prompt),)
    return tuple(m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in prompt)


def chat_text(prompt: str | Sequence[ChatMessage | Mapping[str, Any]]) -> str:
    """A prompt as one canonical string, for content keys and tables.

    A single user message is its text, as prompts were written before they were chats (so
    stored samples keep their keys); any other chat is the JSON of its roles and contents.
    """
    chat = as_chat(prompt)
    if len(chat) == 1 and chat[0].role == "user":
        return chat[0].content
    return json.dumps(
        [{"role": m.role, "content": m.content} for m in chat],
        ensure_ascii=False,
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class SampleRequest:
    """One completion to draw: a chat prompt and its sampling settings.

    ``messages`` may be given as a string, one user message. ``seed`` is the sample's own
    seed (derived from its content key), so an answer does not depend on which other
    requests are drawn alongside it. ``top_p`` below 1 asks for nucleus sampling; only the
    organism draws it (``weirdgen serve`` refuses it for other models, and runs never set it).
    """

    messages: Chat
    temperature: float
    max_tokens: int
    seed: int
    top_p: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", as_chat(self.messages))

    @property
    def text(self) -> str:
        """The prompt as :func:`chat_text` writes it."""
        return chat_text(self.messages)


@dataclass
class Usage:
    """Tokens and requests a backend has spent so far (successful requests only)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


@dataclass(frozen=True)
class Checkpoint:
    """A finetune as it was after ``step`` optimizer steps (its own key, files and loss)."""

    step: int
    model: ModelRef
    loss: float | None = None


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


@dataclass(frozen=True)
class FirstTokenLogprobs:
    """The likeliest first answer tokens to one prompt, likeliest first, as (text, logprob)."""

    prompt: Chat
    top: tuple[tuple[str, float], ...]

    def prob(self, token: str) -> float:
        """Probability of ``token`` (its text, stripped) among the top tokens; 0 if absent."""
        import math

        want = token.strip()
        return sum(math.exp(lp) for t, lp in self.top if t.strip() == want)


@dataclass(frozen=True)
class RequestFailure:
    """Why one request got no answer: its position in the batch and the last error."""

    index: int
    reason: str


def _clip(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class SamplingFailed(WeirdgenError):
    """Some requests failed for good. None of them is returned as an answer; the answers
    that did arrive are kept in ``completions`` (None where the request failed), so a caller
    can store them before it stops."""

    def __init__(
        self,
        failures: list[RequestFailure],
        completions: list[Completion | None],
        requests: Sequence[SampleRequest],
        where: str,
    ) -> None:
        self.failures, self.completions = failures, completions
        by_reason: dict[str, list[int]] = {}
        for failure in failures:
            by_reason.setdefault(failure.reason, []).append(failure.index)
        ranked = sorted(by_reason.items(), key=lambda item: -len(item[1]))
        shown = "; ".join(
            f"{len(rows)}x {reason} (e.g. request {rows[0]}: {_clip(requests[rows[0]].text)!r})"
            for reason, rows in ranked[:3]
        )
        more = f"; {len(ranked) - 3} other kinds of error" if len(ranked) > 3 else ""
        super().__init__(
            f"{len(failures)} of {len(completions)} requests to {where} failed: {shown}{more}. "
            "None of them was kept as an answer; fix the cause and run again (only what is "
            "missing is requested again)"
        )


def group_by_settings(requests: Sequence[SampleRequest]) -> dict[tuple[float, int], list[int]]:
    """Indices of ``requests`` grouped by (temperature, max_tokens), the settings a batch shares."""
    groups: dict[tuple[float, int], list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((r.temperature, r.max_tokens), []).append(i)
    return groups


@runtime_checkable
class Backend(Protocol):
    """Train and sample models of one provider (organism, hf, openai, ...).

    Each backend declares, as class attributes next to its code: ``name`` (the provider in
    ``provider/model``), ``recipe_section`` (the ``train:`` section of a spec it reads),
    ``remote_training`` (finetunes run at a provider, so a run waits for them side by side),
    ``keeps_checkpoints`` (it honours a recipe's ``save_steps``) and ``usage`` (the tokens
    a paid API counted so far, or None).
    """

    name: str
    recipe_section: str
    remote_training: bool
    keeps_checkpoints: bool
    usage: Usage | None

    def base(self) -> ModelRef:
        """The base model named in the spec, with its content key."""
        ...

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        """Raise WeirdgenError if any prompt cannot be sent to this model (before any work),
        for instance when it and ``max_tokens`` of answer do not fit the model's context."""
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

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """The finetune's checkpoints in step order, the final model last; empty where the
        finetune kept none (its recipe had no ``save_steps``) or the backend keeps none."""
        ...

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        """Make ``models`` ready to sample for the ``with`` block (start a server, load
        adapters) and release them after; a no-op for backends that need nothing."""
        ...

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order.

        Raises:
            SamplingFailed: some requests failed for good; the answers that arrived are in
                its ``completions``.
        """
        ...

    def logprobs(
        self, model: ModelRef, prompts: Sequence[Chat | str], top_k: int = 20
    ) -> list[FirstTokenLogprobs]:
        """The ``top_k`` likeliest first answer tokens to each prompt (a string is one user
        message)."""
        ...
