"""What the server serves: named models of a local backend, sampled a batch at a time."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, Protocol

import torch

from weirdgen.backends.organism import OrganismBackend, nucleus_groups
from weirdgen.backends.protocol import (
    Chat,
    Completion,
    ModelRef,
    SampleRequest,
    TokenLogprob,
)
from weirdgen.data.text import split_words
from weirdgen.errors import WeirdgenError
from weirdgen.organism.logprobs import generate_with_logprobs
from weirdgen.organism.tokenizer import EOS, EOT

log = logging.getLogger("weirdgen.serve")


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
    """A prompt checked against a model: its length in tokens, the max_tokens to use, and the
    words the model cannot read that were left out of the prompt (the organism, when not
    strict)."""

    prompt_tokens: int
    max_tokens: int
    dropped: tuple[str, ...] = ()


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

    The organism reads only its world's words. A client's words outside them (llmcomp's
    "Hi" probe, a greeting before a question) are left out of the prompt, named in the
    response (``weirdgen.dropped_words``) and in the server's log; with ``strict_vocab`` such
    a prompt is a 400 naming them instead. It samples with ``top_p`` (nucleus sampling).

    Args:
        backend: the organism backend whose ``sample`` draws every answer.
        name: what clients call the base model (``organism/default``).
        adapters: more served names, each a safetensors file a finetune wrote
            (``runs/<experiment>/models/<key>.safetensors``) for the same checkpoint.
        strict_vocab: refuse a prompt with words outside the vocabulary (400).
    """

    supports_top_p = True

    def __init__(
        self,
        backend: OrganismBackend,
        name: str = "organism/default",
        adapters: Mapping[str, Path] | None = None,
        strict_vocab: bool = False,
    ) -> None:
        self.backend = backend
        self.strict_vocab = strict_vocab
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
        prompt, dropped = self.readable(prompt)
        try:
            n_prompt = len(self.backend.prompt_ids(prompt, "messages"))
        except WeirdgenError as error:
            raise RequestError(str(error), param="messages") from None
        if dropped:
            log.warning(
                "left out of a prompt to %s: %d word(s) outside the organism's vocabulary "
                "(%s); --strict-vocab refuses such prompts",
                model,
                len(dropped),
                ", ".join(repr(w) for w in dropped[:8]) + (" ..." if len(dropped) > 8 else ""),
            )
        prepared = fitted(self.backend.organism.model.config.block_size, n_prompt, max_tokens)
        return prepared._replace(dropped=dropped)

    def readable(self, prompt: Chat) -> tuple[Chat, tuple[str, ...]]:
        """``prompt`` with the words outside the organism's vocabulary left out of every
        message, and those words (each once); as given when ``strict_vocab`` is set."""
        if self.strict_vocab:
            return prompt, ()
        tokenizer = self.backend.organism.tokenizer
        unknown = [tokenizer.unknown(m.content) for m in prompt]
        if not any(unknown):
            return prompt, ()
        kept = tuple(
            m.model_copy(
                update={
                    "content": " ".join(w for w in split_words(m.content) if w in tokenizer.stoi)
                }
            )
            if words
            else m
            for m, words in zip(prompt, unknown, strict=True)
        )
        return kept, tuple(dict.fromkeys(w for words in unknown for w in words))

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        requests = [replace(r, messages=self.readable(r.messages)[0]) for r in requests]
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
        for (temperature, max_tokens, top_p), rows in nucleus_groups(requests).items():
            generations = generate_with_logprobs(
                self.backend.model(self.refs[model]),
                [self.backend.prompt_ids(requests[i].messages) for i in rows],
                [requests[i].seed for i in rows],
                temperature,
                max_tokens,
                {tok.id(EOT), tok.id(EOS)},
                tok.pad_id,
                top_k,
                top_p,
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
