"""Finetuning the organism on chat examples, with the loss on the assistant's tokens only."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from weirdgen.errors import WeirdgenError
from weirdgen.organism.model import GPT
from weirdgen.organism.tokenizer import ChatTokens
from weirdgen.spec.models import OrganismRecipe


class FinetuneStopped(Exception):
    """Raised by :func:`finetune` when its ``stop`` callback asked it to stop."""


def finetune(
    base: GPT,
    examples: Sequence[ChatTokens],
    recipe: OrganismRecipe,
    seed: int,
    pad_id: int,
    stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[int, GPT], None] | None = None,
) -> tuple[GPT, list[float]]:
    """A finetuned copy of ``base`` and its per-step losses; ``base`` is left untouched.

    The seed fixes the data order and the LoRA initialisation. LoRA updates are merged into
    the weights afterwards, so every finetuned organism is a plain GPT.

    Args:
        stop: called before every optimizer step; when it returns True, training ends by
            raising :class:`FinetuneStopped` (so no half-trained model is ever returned).
        on_checkpoint: with ``recipe.save_steps`` = k, called after every k-th optimizer
            step before the last with (step, a plain GPT copy of the model at that step).

    Raises:
        WeirdgenError: the loss (or, after the last step, a weight) is not finite: the
            learning rate is too high for this data.
        FinetuneStopped: ``stop`` returned True.
    """
    generator = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(base)
    if recipe.method == "lora":
        params = model.add_lora(recipe.lora_rank, recipe.lora_alpha, seed)
    else:
        params = [p.requires_grad_(True) for p in model.parameters()]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id)
    targets = torch.full((len(examples), width), -100)
    for i, example in enumerate(examples):
        ids[i, : len(example.ids)] = torch.tensor(example.ids)
        target = torch.tensor(example.ids[1:] + [pad_id])
        mask = torch.tensor(example.loss[1:] + [False])
        targets[i, : len(example.ids)] = torch.where(mask, target, -100)
    steps = recipe.epochs * math.ceil(len(examples) / recipe.batch_size)
    model.train()
    losses: list[float] = []
    for _ in range(recipe.epochs):
        order = torch.randperm(len(examples), generator=generator)
        for batch in order.split(recipe.batch_size):
            if stop is not None and stop():
                raise FinetuneStopped(f"stopped at step {len(losses) + 1} of {steps}")
            loss = _loss(model, ids[batch], targets[batch])
            value = loss.item()
            if not math.isfinite(value):
                raise WeirdgenError(
                    f"finetuning loss became {value} at step {len(losses) + 1} of {steps} "
                    f"(lr {recipe.lr:g}); lower the learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(value)
            every = recipe.save_steps
            if on_checkpoint is not None and every and len(losses) % every == 0:
                if len(losses) < steps:
                    snapshot = _frozen(copy.deepcopy(model), recipe, len(losses), steps)
                    on_checkpoint(len(losses), snapshot)
    return _frozen(model, recipe, steps, steps), losses


def _loss(model: GPT, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``model`` on one batch, over the targets that are not -100."""
    logits = model(ids)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
    )


def _frozen(model: GPT, recipe: OrganismRecipe, step: int, steps: int) -> GPT:
    """``model`` ready to sample: eval mode, LoRA merged, no gradients, finite weights."""
    model.eval()
    if recipe.method == "lora":
        model.merge_lora()
    for p in model.parameters():
        p.requires_grad_(False)
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise WeirdgenError(
            f"finetuning left non-finite weights after step {step} of {steps} "
            f"(lr {recipe.lr:g}); lower the learning rate"
        )
    return model
