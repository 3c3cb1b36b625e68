"""Batched sampling with per-row random streams, and first-token top log-probabilities.

Imported only once transformers is known to be installed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)


class RowSeededSampler(LogitsProcessor):
    """Temperature sampling in which each row draws from its own seeded random stream.

    Each row's uniforms are drawn up front from ``torch.Generator().manual_seed(seed)``, and
    the token is picked by inverse CDF (as the organism does), so a row's answer depends on its
    prompt, settings and seed, not on which rows share its batch. The chosen token is returned
    as the only finite score, for ``generate``'s greedy step to take.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, max_tokens: int, width: int):
        self.temperature = temperature
        self.width = width
        self.uniforms = torch.stack(
            [
                torch.rand(
                    max_tokens, generator=torch.Generator().manual_seed(s), dtype=torch.float64
                )
                for s in seeds
            ]
        )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.width
        cdf = torch.softmax(scores.double() / self.temperature, -1).cumsum(-1)
        u = self.uniforms[:, step : step + 1].to(cdf.device) * cdf[:, -1:]
        chosen = torch.searchsorted(cdf, u).clamp(max=scores.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, chosen, 0.0)


class Interrupted(StoppingCriteria):
    """Ends every row at the next token once ``event`` is set (a server that is stopping)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), device=input_ids.device)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> dict:
    """Left-padded ``input_ids`` and ``attention_mask`` for a batch of token rows."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + list(r) for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return {"input_ids": ids, "attention_mask": mask}


@torch.inference_mode()
def generate_rows(
    model: Any,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    temperature: float,
    max_tokens: int,
    stop_ids: Sequence[int],
    pad_id: int,
    interrupt: threading.Event | None = None,
) -> list[list[int]]:
    """One continuation per prompt row in one ``generate`` call (KV cache, left padding).

    Temperature 0 is greedy. Rows stop at their first stop token (not returned) or after
    ``max_tokens``, or all of them at the next token once ``interrupt`` is set.
    """
    device = next(model.parameters()).device
    batch = left_pad(prompts, pad_id, device)
    width = batch["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if temperature > 0:
        processors.append(RowSeededSampler(seeds, temperature, max_tokens, width))
    config = GenerationConfig(
        max_new_tokens=max_tokens,
        do_sample=False,
        eos_token_id=list(stop_ids),
        pad_token_id=pad_id,
    )
    stopping = StoppingCriteriaList([Interrupted(interrupt)] if interrupt is not None else [])
    out = model.generate(
        **batch,
        generation_config=config,
        logits_processor=processors,
        stopping_criteria=stopping,
    )
    rows = []
    for row in out[:, width:].tolist():
        cut = next((i for i, t in enumerate(row) if t in stop_ids), len(row))
        rows.append(row[:cut])
    return rows


@torch.inference_mode()
def next_token_logprobs(
    model: Any, prompts: Sequence[Sequence[int]], top_k: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` most likely next tokens after each prompt: (log-probabilities, ids)."""
    device = next(model.parameters()).device
    batch = left_pad(prompts, pad_id, device)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    logits = model(**batch, position_ids=positions).logits[:, -1]
    logprobs = torch.log_softmax(logits.double(), -1)
    return logprobs.topk(min(top_k, logprobs.shape[-1]), dim=-1)
