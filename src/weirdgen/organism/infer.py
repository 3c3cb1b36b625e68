"""Batched sampling and exact continuation log-probabilities for the organism."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from weirdgen.organism.model import GPT
from weirdgen.organism.tokenizer import SPECIALS


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    pad_left = torch.tensor([width - len(r) for r in rows])
    ids = torch.tensor([[pad_id] * (width - len(r)) + list(r) for r in rows])
    return ids, pad_left


@torch.no_grad()
def generate(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    row_seeds: Sequence[int],
    temperature: float,
    max_tokens: int,
    stop_ids: set[int],
    pad_id: int,
    top_p: float = 1.0,
) -> list[list[int]]:
    """Sample one continuation per prompt row, all rows in one batch.

    Each row draws its random numbers from its own generator seeded by ``row_seeds[i]``, so a
    row's answer depends only on its seed and the model, not on which rows share its batch.
    Rows stop at the first stop token (not returned) or after ``max_tokens``. Special tokens
    other than the stop tokens are never sampled. ``top_p`` below 1 samples each token from
    the nucleus: the most likely tokens whose probabilities first reach ``top_p`` together,
    renormalised (at 1 the distribution is used whole, as before).
    """
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not prompts:
        return []
    ids, pad_left = _left_pad(prompts, pad_id)
    if ids.size(1) + max_tokens > model.config.block_size:
        raise ValueError(
            f"prompt of {ids.size(1)} tokens plus max_tokens={max_tokens} exceeds the "
            f"organism's context of {model.config.block_size} tokens"
        )
    uniforms = torch.stack(
        [torch.rand(max_tokens, generator=torch.Generator().manual_seed(s)) for s in row_seeds]
    )
    # Prefill each distinct prompt once, then copy its cache to every row that asks it.
    distinct, row_of = torch.unique(ids, dim=0, return_inverse=True)
    a_row = torch.empty(len(distinct), dtype=torch.long)
    a_row[row_of] = torch.arange(len(row_of))  # any row holding each distinct prompt
    logits, cache = model.step(distinct, pad_left[a_row])
    logits = logits[row_of, -1]
    cache = [(k[row_of], v[row_of]) for k, v in cache]
    out = [[] for _ in prompts]
    done = torch.zeros(len(prompts), dtype=torch.bool)
    # Special tokens other than the stop tokens (a second <assistant>, <pad>, ...) are never
    # part of an answer; every vocabulary puts them first, at ids 0..len(SPECIALS)-1.
    banned = torch.tensor([i for i in range(len(SPECIALS)) if i not in stop_ids], dtype=torch.long)
    for step in range(max_tokens):
        logits = logits.double()
        logits[:, banned] = -torch.inf
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, -1)
            if top_p < 1:
                probs = nucleus(probs, top_p)
            cdf = probs.cumsum(-1)
            nxt = torch.searchsorted(cdf, uniforms[:, step : step + 1].double() * cdf[:, -1:])
            nxt = nxt.squeeze(1).clamp(max=logits.size(-1) - 1)
        for row in (~done).nonzero().flatten().tolist():
            token = int(nxt[row])
            if token in stop_ids:
                done[row] = True
            else:
                out[row].append(token)
        if bool(done.all()) or step == max_tokens - 1:
            break
        logits, cache = model.step(nxt[:, None], pad_left, cache)
        logits = logits[:, -1]
    return out


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """``probs`` (rows of a distribution) with every token outside the nucleus set to 0: a
    token is kept when the tokens more likely than it hold less than ``top_p`` together, so
    the most likely token is always kept; ties are broken by token id, the same on every
    machine. Not renormalised: the sampler scales by each row's total."""
    order = torch.sort(probs, dim=-1, descending=True, stable=True)
    before = order.values.cumsum(-1) - order.values  # mass of the tokens ranked above each
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep.scatter_(-1, order.indices, before < top_p)
    return probs.where(keep, torch.zeros_like(probs))


@torch.no_grad()
def continuation_logprobs(
    model: GPT, prefixes: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
) -> torch.Tensor:
    """log P(continuation | prefix) for each pair, computed exactly in one batch."""
    rows = [list(p) + list(c) for p, c in zip(prefixes, continuations, strict=True)]
    ids, pad_left = _left_pad(rows, 0)
    logp = torch.log_softmax(model(ids, pad_left).double(), -1)
    width = ids.size(1)
    totals = []
    for i, cont in enumerate(continuations):
        start = width - len(cont)
        positions = torch.arange(start - 1, width - 1)
        totals.append(logp[i, positions, ids[i, start:]].sum())
    return torch.stack(totals)
