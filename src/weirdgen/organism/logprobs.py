"""Top-k next-token log-probabilities of the organism's own samples (OpenAI-style logprobs).

The tokens come from :func:`weirdgen.organism.infer.generate`, so an answer drawn here is the
answer the organism backend draws for the same seed; the log-probabilities are then read off
one teacher-forced forward pass over prompt and answer, batched like sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from weirdgen.organism.infer import _left_pad, generate
from weirdgen.organism.model import GPT


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token: its id, its log-probability, and the k likeliest ids there.

    Log-probabilities are the model's own (temperature 1), as OpenAI reports them, whatever
    temperature the token was sampled at. ``top`` is ordered from likeliest down.
    """

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Generation:
    """One sampled answer: its token ids, why it ended, and per-token log-probabilities."""

    tokens: list[int]
    stopped: bool
    logprobs: list[TokenLogprobs]


@torch.no_grad()
def token_logprobs(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    top_k: int,
    pad_id: int,
) -> list[list[TokenLogprobs]]:
    """Per answer token, log P(token | prompt, earlier answer tokens) and the top-k there.

    All rows go through the model in one batch; ``top_k`` may be 0 (no alternatives).
    """
    if not prompts:
        return []
    rows = [list(p) + list(a) for p, a in zip(prompts, answers, strict=True)]
    ids, pad_left = _left_pad(rows, pad_id)
    logp = torch.log_softmax(model(ids, pad_left).double(), -1)
    width, k = ids.size(1), min(top_k, logp.size(-1))
    out: list[list[TokenLogprobs]] = []
    for i, answer in enumerate(answers):
        if not answer:
            out.append([])
            continue
        start = width - len(answer)
        dist = logp[i, start - 1 : width - 1]  # the distribution each answer token came from
        chosen = dist.gather(1, ids[i, start:, None]).squeeze(1).tolist()
        top_values, top_ids = dist.topk(k, dim=-1)
        out.append(
            [
                TokenLogprobs(token, value, tuple(zip(tids, tvals, strict=True)))
                for token, value, tids, tvals in zip(
                    answer, chosen, top_ids.tolist(), top_values.tolist(), strict=True
                )
            ]
        )
    return out


def generate_with_logprobs(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    row_seeds: Sequence[int],
    temperature: float,
    max_tokens: int,
    stop_ids: set[int],
    pad_id: int,
    top_k: int,
    top_p: float = 1.0,
) -> list[Generation]:
    """Sample like :func:`~weirdgen.organism.infer.generate`, with per-token logprobs.

    Args:
        top_k: how many likeliest alternatives to report per position (0 to 20 in OpenAI's
            API; anything up to the vocabulary size works here).
    """
    answers = generate(model, prompts, row_seeds, temperature, max_tokens, stop_ids, pad_id, top_p)
    scored = token_logprobs(model, prompts, answers, top_k, pad_id)
    return [
        Generation(list(answer), len(answer) < max_tokens, logprobs)
        for answer, logprobs in zip(answers, scored, strict=True)
    ]


@torch.no_grad()
def first_token_logprobs(
    model: GPT, prompts: Sequence[Sequence[int]], top_k: int, pad_id: int
) -> list[tuple[tuple[int, float], ...]]:
    """The ``top_k`` likeliest first answer tokens after each prompt, as (id, logprob)."""
    if not prompts:
        return []
    ids, pad_left = _left_pad([list(p) for p in prompts], pad_id)
    logp = torch.log_softmax(model(ids, pad_left)[:, -1].double(), -1)
    values, token_ids = logp.topk(min(top_k, logp.size(-1)), dim=-1)
    return [
        tuple(zip(tids, vals, strict=True))
        for tids, vals in zip(token_ids.tolist(), values.tolist(), strict=True)
    ]
