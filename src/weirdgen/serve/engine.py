"""What the server serves: named models of a local backend, sampled a batch at a time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import torch

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import (
    Chat,
    Completion,
    ModelRef,
    SampleRequest,
    TokenLogprob,
    group_by_settings,
)
from weirdgen.errors import WeirdgenError
from weirdgen.organism.logprobs import generate_with_logprobs
from weirdgen.organism.tokenizer import EOS, EOT


class RequestError(Exception):
    """A request the server turns down, with the OpenAI error fields to say why."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.param, self.code, self.kind = (
            message,
            status,
            param,
            code,
            kind,
        )


class Prepared(NamedTuple):
    """A prompt checked against a model: its length in tokens and the max_tokens to use."""

    prompt_tokens: int
    max_tokens: int


class Engine(Protocol):
    """A local backend's models as the server sees them.

    An engine whose ``complete`` can run long may also have ``interrupt()``: the server calls
    it when it stops, and the call under way should end soon after (see ``HfEngine``).
    """

    def model_ids(self) -> list[str]:
        """The names clients pass as ``model``."""
        ...

    def fingerprint(self, model: str) -> str:
        """A content key of the served weights (the response's ``system_fingerprint``)."""
        ...

    def prepare(self, model: str, prompt: Chat, max_tokens: int | None) -> Prepared:
        """Check a request before it joins a batch; raise RequestError if it cannot run."""
        ...

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        """One completion per request, all drawn in one batch (blocking; runs in a thread)."""
        ...


class ContextExceeded(RequestError):
    """A prompt and answer that do not fit a model's context (``context_length_exceeded``),
    worded with the names the request gave: the answer's bound ``field`` and the prompt's
    ``prompt`` parameter (an endpoint renames them with :meth:`named`)."""

    def __init__(
        self,
        context: int,
        prompt_tokens: int,
        max_tokens: int | None,
        field: str = "max_tokens",
        prompt: str = "messages",
    ) -> None:
        self.context, self.prompt_tokens, self.max_tokens = context, prompt_tokens, max_tokens
        room = context - prompt_tokens
        if max_tokens is None:
            message = (
                f"This model's context is {context} tokens and the prompt ('{prompt}') takes "
                f"{prompt_tokens}, which leaves no room for an answer; shorten the prompt"
            )
            param = prompt
        else:
            message = (
                f"This model's context is {context} tokens; the prompt takes {prompt_tokens}, "
                f"which leaves {max(room, 0)} for the answer, but {field} is {max_tokens}; "
                f"lower {field} or shorten the prompt"
            )
            param = field
        super().__init__(message, param=param, code="context_length_exceeded")

    def named(self, field: str, prompt: str) -> ContextExceeded:
        """The same error in the words of an endpoint whose fields are named otherwise."""
        return ContextExceeded(self.context, self.prompt_tokens, self.max_tokens, field, prompt)


def fitted(context: int, n_prompt: int, max_tokens: int | None) -> Prepared:
    """The prompt's length and the max_tokens to use, within a model's ``context`` (all the
    room left when ``max_tokens`` is None); ContextExceeded when the answer has no room."""
    room = context - n_prompt
    if room < 1 or (max_tokens is not None and max_tokens > room):
        raise ContextExceeded(context, n_prompt, max_tokens)
    return Prepared(n_prompt, room if max_tokens is None else max_tokens)


class OrganismEngine:
    """The organism backend's base model and any finetuned weights files, by name.

    Args:
        backend: the organism backend whose ``sample`` draws every answer.
        name: what clients call the base model (``organism/default``).
        adapters: more served names, each a safetensors file a finetune wrote
            (``runs/<experiment>/models/<key>.safetensors``) for the same checkpoint.
    """

    def __init__(
        self,
        backend: OrganismBackend,
        name: str = "organism/default",
        adapters: Mapping[str, Path] | None = None,
    ) -> None:
        self.backend = backend
        base = backend.base()
        self.refs: dict[str, ModelRef] = {name: base}
        for adapter, path in (adapters or {}).items():
            if adapter in self.refs:
                raise WeirdgenError(
                    f"--adapter {adapter}={path}: the name {adapter!r} is already served; "
                    "give each adapter its own name"
                )
            if not Path(path).is_file():
                raise WeirdgenError(
                    f"--adapter {adapter}={path}: no such file; pass a .safetensors file that "
                    "a finetune of this checkpoint wrote (runs/<experiment>/models/*.safetensors)"
                )
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
            self.add_finetune(
                adapter, ModelRef(backend.name, f"organism-file-{digest}", base.base, str(path))
            )

    def model_ids(self) -> list[str]:
        """The base model's name first, then the finetunes'."""
        return list(self.refs)

    def add_finetune(self, name: str, ref: ModelRef) -> None:
        """Serve a finetune of this checkpoint (its weights file at ``ref.path``) as ``name``;
        its weights are loaded now (once, into the backend), so a bad file fails here."""
        try:
            model = self.backend.model(ref)
        except Exception as error:  # safetensors and torch raise many kinds on a bad file
            first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
            raise WeirdgenError(
                f"--adapter {name}={ref.path}: not weights of a finetune of checkpoint "
                f"{self.backend.checkpoint} ({type(error).__name__}: {first}); pass a file that "
                "`weirdgen run` wrote for this checkpoint, or serve its own checkpoint with --model"
            ) from None
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise WeirdgenError(
                f"--adapter {name}={ref.path}: the weights hold NaN or infinite values (a "
                "finetune that diverged); retrain it with a lower learning rate"
            )
        self.refs[name] = ref

    def fingerprint(self, model: str) -> str:
        return self.refs[model].key

    def prepare(self, model: str, prompt: Chat, max_tokens: int | None) -> Prepared:
        if model not in self.refs:
            raise RequestError(
                f"The model {model!r} does not exist on this server; it serves: "
                f"{', '.join(self.refs)}",
                status=404,
                param="model",
                code="model_not_found",
            )
        try:
            n_prompt = len(self.backend.prompt_ids(prompt, "messages"))
        except WeirdgenError as error:
            raise RequestError(str(error), param="messages") from None
        return fitted(self.backend.organism.model.config.block_size, n_prompt, max_tokens)

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        n_prompt = [len(self.backend.prompt_ids(r.messages)) for r in requests]
        if top_logprobs is None:
            texts = self.backend.sample(self.refs[model], requests)
            out = []
            for text, r, p in zip(texts, requests, n_prompt, strict=True):
                n = len(text.split())  # organism tokens are words: one per space-separated item
                out.append(Completion(text, p, n, "length" if n >= r.max_tokens else "stop"))
            return out
        return self._complete_logprobs(model, requests, top_logprobs, n_prompt)

    def _complete_logprobs(
        self, model: str, requests: Sequence[SampleRequest], top_k: int, n_prompt: list[int]
    ) -> list[Completion]:
        tok = self.backend.organism.tokenizer
        out: list[Completion | None] = [None] * len(requests)
        groups = group_by_settings(requests)
        for (temperature, max_tokens), rows in groups.items():
            generations = generate_with_logprobs(
                self.backend.model(self.refs[model]),
                [self.backend.prompt_ids(requests[i].messages) for i in rows],
                [requests[i].seed for i in rows],
                temperature,
                max_tokens,
                {tok.id(EOT), tok.id(EOS)},
                tok.pad_id,
                top_k,
            )
            for i, gen in zip(rows, generations, strict=True):
                # Each token's text carries the space before it, so they join to the answer.
                logprobs = tuple(
                    TokenLogprob(
                        ("" if pos == 0 else " ") + tok.itos[t.token],
                        t.logprob,
                        tuple(
                            (("" if pos == 0 else " ") + tok.itos[alt], value)
                            for alt, value in t.top
                        ),
                    )
                    for pos, t in enumerate(gen.logprobs)
                )
                out[i] = Completion(
                    tok.decode(gen.tokens),
                    n_prompt[i],
                    len(gen.tokens),
                    "stop" if gen.stopped else "length",
                    logprobs,
                )
        return [c for c in out if c is not None]
