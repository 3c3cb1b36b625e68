"""Surprise: how unexpected a dataset's answers are to the base model, as the mean loss per
token of each example's assistant turns (the tokens finetuning would put loss on)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from weirdgen.backends import Backend, ModelRef
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.preflight_shift import Measure

BATCH = 64


def example_losses(backend: Backend, model: ModelRef, dataset: ChatDataset) -> np.ndarray:
    """Per example, the mean negative log-probability (nats per token) of its assistant
    tokens under ``model``: the organism's exactly (its ``<eot>`` included, as finetuning
    counts it), a Hugging Face model's through its chat template (the tokens
    ``weirdgen run`` would train on).

    Raises:
        WeirdgenError: the model's weights are not here (an API model).
    """
    if backend.name == "organism":
        rows = _organism_rows(backend, dataset)
        net, pad = backend.model(model), backend.organism.tokenizer.pad_id
        device = torch.device("cpu")
    elif backend.name == "hf":
        rows = _hf_rows(backend, dataset)
        pad = backend.models.pad_id
        device = backend.device
    else:
        raise WeirdgenError(
            f"surprise needs the token log-probabilities of {model.base}, which the "
            f"{backend.name} backend does not give; use an organism or hf model"
        )
    losses = []
    if backend.name == "hf":
        with backend.models.using(model) as net:
            for start in range(0, len(rows), BATCH):
                losses += _batch(net, rows[start : start + BATCH], pad, device, hf=True)
    else:
        for start in range(0, len(rows), BATCH):
            losses += _batch(net, rows[start : start + BATCH], pad, device, hf=False)
    return np.array(losses)


def _organism_rows(backend: Any, dataset: ChatDataset) -> list[tuple[list[int], list[bool]]]:
    tokenizer = backend.organism.tokenizer
    out = []
    for i, example in enumerate(dataset.examples):
        chat = tokenizer.chat([(m.role, m.content) for m in example.messages], dataset.place(i))
        out.append((chat.ids, chat.loss))
    return out


def _hf_rows(backend: Any, dataset: ChatDataset) -> list[tuple[list[int], list[bool]]]:
    from weirdgen.backends.hf.chat import IGNORE, encode_chat

    tokenizer = backend._chat_tokenizer(f"model 'hf/{backend.model_name}'")
    out = []
    for i, example in enumerate(dataset.examples):
        encoded = encode_chat(tokenizer, example.messages, dataset.place(i))
        out.append((encoded.input_ids, [label != IGNORE for label in encoded.labels]))
    return out


@torch.no_grad()
def _batch(
    net: Any,
    rows: list[tuple[list[int], list[bool]]],
    pad: int,
    device: torch.device,
    hf: bool,
) -> list[float]:
    """Mean loss per token on each row's marked tokens (each predicted from the ones before;
    rows padded on the right, which a causal model never attends to)."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    marked = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (row, loss) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        marked[i, : len(loss)] = torch.tensor(loss, dtype=torch.bool)
    with torch.inference_mode():
        if hf:
            real = torch.arange(width)[None, :] < torch.tensor([len(r) for r, _ in rows])[:, None]
            logits = net(input_ids=ids.to(device), attention_mask=real.long().to(device)).logits
        else:
            logits = net(ids)
    logp = torch.log_softmax(logits.double().cpu(), -1)[:, :-1]
    taken = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    mask = marked[:, 1:]
    return (-(taken * mask).sum(1) / mask.sum(1).clamp(min=1)).tolist()


def surprise_measure(losses: np.ndarray, model_key: str) -> Measure:
    q1, median, q3 = (float(x) for x in np.quantile(losses, [0.25, 0.5, 0.75]))
    return Measure(
        name="surprise",
        value=float(losses.mean()),
        low=q1,
        high=q3,
        over=f"{len(losses)} examples (interquartile range)",
        evidence=(
            f"nats per assistant token under the base model: median {median:.3g}, "
            f"max {float(losses.max()):.3g}"
        ),
        details={"median": median, "model_key": model_key, "examples": losses.tolist()},
    )
