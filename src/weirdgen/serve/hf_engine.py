"""The hf backend's model behind the server, e.g. a local LLM judge reached over HTTP.

Answers are drawn as :meth:`HfBackend.sample` draws them (per-row seeded, batch-independent;
temperature 0 is greedy), so seed S with n=1 gives what the backend samples for a request
seeded S. Logprobs come from a teacher-forced forward pass over prompt and answer (the
same pass that draws the token, for a one-token answer).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from weirdgen.backends.hf import HfBackend
from weirdgen.backends.hf.chat import prompt_ids, strip_thinking
from weirdgen.backends.hf.generate import RowSeededSampler, generate_rows, left_pad
from weirdgen.backends.protocol import (
    Chat,
    Completion,
    SampleRequest,
    TokenLogprob,
    group_by_settings,
)
from weirdgen.errors import WeirdgenError
from weirdgen.serve.engine import Prepared, RequestError, fitted

DEFAULT_MAX_TOKENS = 4096
"""Answer length when neither the request (max_tokens) nor the model's config bounds it."""

SCORED_LOGITS = 2**27
"""Most logits held at once while scoring answers (1 GiB as float64); rows beyond it wait."""


def _stopping() -> RequestError:
    return RequestError(
        "The server is stopping.", status=503, code="server_stopping", kind="server_error"
    )


class ScoredToken(NamedTuple):
    """An answer token's id and log-probability, and the likeliest ids at its place."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


class HfEngine:
    """The base model of an :class:`HfBackend`, served under one name.

    The weights are loaded here, so a folder that holds no model fails at start and the first
    request is not slow. Finetunes are not served (LoRA adapters need their base; a full
    finetune's folder is a model of its own: serve it as ``hf/<folder>``).

    Args:
        backend: the hf backend whose model answers.
        name: what clients pass as ``model`` (default ``hf/<the backend's model name>``).
    """

    def __init__(self, backend: HfBackend, name: str | None = None) -> None:
        self.backend = backend
        self.name = name or f"hf/{backend.model_name}"
        self.ref = backend.base()
        backend.check_prompts(("Hello",), f"--model {self.name}")  # it has a chat template
        try:
            config = backend.models.base.config
        except Exception as error:  # transformers raises many kinds on a folder it cannot read
            first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
            raise WeirdgenError(
                f"--model {self.name}: cannot load a causal LM from {backend.folder} "
                f"({type(error).__name__}: {first}); give a folder with config.json and weights"
            ) from None
        self.context: int | None = getattr(config, "max_position_embeddings", None)
        self.stopping = threading.Event()

    def interrupt(self) -> None:
        """Cut the generation under way at its next token, and refuse new ones: the server is
        stopping (it would otherwise wait for a long answer to finish)."""
        self.stopping.set()

    def model_ids(self) -> list[str]:
        return [self.name]

    def fingerprint(self, model: str) -> str:
        return self.ref.key

    def prepare(self, model: str, prompt: Chat, max_tokens: int | None) -> Prepared:
        if model != self.name:
            raise RequestError(
                f"The model {model!r} does not exist on this server; it serves: {self.name}",
                status=404,
                param="model",
                code="model_not_found",
            )
        try:
            n_prompt = len(self._prompt_ids(prompt))
        except WeirdgenError as error:
            raise RequestError(str(error), param="messages") from None
        if self.context is None:
            return Prepared(n_prompt, max_tokens or DEFAULT_MAX_TOKENS)
        return fitted(self.context, n_prompt, max_tokens)

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        """One completion per request, generated in batches of the backend's ``batch_size``
        (shortest prompts first, as ``sample`` batches them).

        The message is the decoded answer without special tokens and ``<think>`` blocks, as
        ``sample`` returns it; the token count, finish reason and logprobs cover every
        generated token (the stop token excluded). Logprobs are those of the model's own
        distribution (temperature 1, as OpenAI reports them), whatever the temperature drawn
        at; each token's text is ``tokenizer.decode([id])``, special tokens included.
        """
        ids = {r.text: self._prompt_ids(r.messages) for r in requests}
        decode = _Decoder(self.backend.tokenizer)
        out: list[Completion | None] = [None] * len(requests)
        with self.backend.models.using(self.ref) as lm:
            for (temperature, max_tokens), rows in group_by_settings(requests).items():
                rows.sort(key=lambda i: len(ids[requests[i].text]))
                for start in range(0, len(rows), self.backend.batch_size):
                    chunk = rows[start : start + self.backend.batch_size]
                    prompts = [ids[requests[i].text] for i in chunk]
                    seeds = [requests[i].seed for i in chunk]
                    if self.stopping.is_set():
                        raise _stopping()
                    answers, scored = self._draw(
                        lm, prompts, seeds, temperature, max_tokens, top_logprobs
                    )
                    for j, i in enumerate(chunk):
                        out[i] = Completion(
                            self._text(answers[j]),
                            len(prompts[j]),
                            len(answers[j]),
                            "length" if len(answers[j]) >= max_tokens else "stop",
                            None if scored is None else decode.logprobs(scored[j]),
                        )
        return [c for c in out if c is not None]

    def _draw(
        self,
        lm: Any,
        prompts: list[list[int]],
        seeds: list[int],
        temperature: float,
        max_tokens: int,
        top_k: int | None,
    ) -> tuple[list[list[int]], list[list[ScoredToken]] | None]:
        """The answers' token ids and, if ``top_k`` is given, their scored tokens.

        One answer token with logprobs (a judge's rating) costs one forward pass: the token is
        drawn from the logits it is scored with. Longer answers are generated, then scored
        again, a few rows at a time (at most SCORED_LOGITS logits at once).
        """
        models = self.backend.models
        if top_k is not None and max_tokens == 1:
            scored = first_tokens(
                lm, prompts, seeds, temperature, top_k, models.stop_ids, models.pad_id
            )
            return [[t.token for t in row] for row in scored], scored
        answers = generate_rows(
            lm, prompts, seeds, temperature, max_tokens, models.stop_ids, models.pad_id,
            self.stopping,
        )  # fmt: skip
        if self.stopping.is_set():  # cut short: not the answers the request asked for
            raise _stopping()
        if top_k is None:
            return answers, None
        vocab = lm.get_output_embeddings().weight.shape[0]
        step = max(1, SCORED_LOGITS // ((max(map(len, answers)) + 1) * vocab))
        scored = []
        for start in range(0, len(answers), step):
            rows = slice(start, start + step)
            scored += score_answers(lm, prompts[rows], answers[rows], top_k, models.pad_id)
        return answers, scored

    def _prompt_ids(self, prompt: Chat) -> list[int]:
        return prompt_ids(self.backend.tokenizer, prompt, "messages")

    def _text(self, answer: list[int]) -> str:
        return strip_thinking(self.backend.tokenizer.decode(answer, skip_special_tokens=True))


class _Decoder:
    """``tokenizer.decode([id])``, each id decoded once."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.texts: dict[int, str] = {}

    def __call__(self, token: int) -> str:
        if token not in self.texts:
            self.texts[token] = self.tokenizer.decode([token])
        return self.texts[token]

    def logprobs(self, row: list[ScoredToken]) -> tuple[TokenLogprob, ...]:
        """An answer's scored tokens as text."""
        return tuple(
            TokenLogprob(self(t.token), t.logprob, tuple((self(a), v) for a, v in t.top))
            for t in row
        )


@torch.inference_mode()
def first_tokens(
    model: Any,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    temperature: float,
    top_k: int,
    stop_ids: Sequence[int],
    pad_id: int,
) -> list[list[ScoredToken]]:
    """One answer token per prompt, drawn as ``generate_rows`` draws it (greedy at temperature
    0, else from the row's seeded stream) and scored from the same logits, in one forward pass;
    an empty answer where the token drawn is a stop token."""
    device = next(model.parameters()).device
    batch = left_pad(prompts, pad_id, device)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    logits = model(**batch, position_ids=positions, logits_to_keep=1).logits[:, -1].float()
    scores = logits
    if temperature > 0:
        width = batch["input_ids"].shape[1]
        scores = RowSeededSampler(seeds, temperature, 1, width)(batch["input_ids"], logits)
    chosen = scores.argmax(-1)
    logprobs = torch.log_softmax(logits.double(), -1)
    values = logprobs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1).tolist()
    top_values, top_ids = (v.tolist() for v in logprobs.topk(min(top_k, logprobs.shape[-1]), -1))
    return [
        [] if token in stop_ids else [ScoredToken(token, value, tuple(zip(ids, tops, strict=True)))]
        for token, value, ids, tops in zip(
            chosen.tolist(), values, top_ids, top_values, strict=True
        )
    ]


@torch.inference_mode()
def score_answers(
    model: Any,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    top_k: int,
    pad_id: int,
) -> list[list[ScoredToken]]:
    """Each answer token's log-probability given its prompt and the answer before it, with the
    ``top_k`` likeliest tokens at its place, likeliest first.

    One forward pass over the left-padded rows ``prompt + answer`` (positions counted from each
    row's first real token, as ``generate`` counts them); only the logits at the answers'
    places are kept. Log-probabilities are of the model's distribution at temperature 1.
    """
    longest = max(map(len, answers), default=0)
    if longest == 0:
        return [[] for _ in answers]
    device = next(model.parameters()).device
    batch = left_pad([[*p, *a] for p, a in zip(prompts, answers, strict=True)], pad_id, device)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    # The logits at the last `longest + 1` places; the final one predicts past the answer.
    logits = model(**batch, position_ids=positions, logits_to_keep=longest + 1).logits[:, :-1]
    logprobs = torch.log_softmax(logits.double(), -1)
    targets = torch.tensor(
        [[pad_id] * (longest - len(a)) + list(a) for a in answers], device=logprobs.device
    )
    chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).tolist()
    k = min(top_k, logprobs.shape[-1])
    top_values, top_ids = (v.tolist() for v in logprobs.topk(k, dim=-1))
    rows = []
    for r, answer in enumerate(answers):
        first = longest - len(answer)
        rows.append(
            [
                ScoredToken(
                    token,
                    chosen[r][first + j],
                    tuple(zip(top_ids[r][first + j], top_values[r][first + j], strict=True)),
                )
                for j, token in enumerate(answer)
            ]
        )
    return rows
