"""A second finetuning stage (re-alignment): the finetune it trains further, checked first."""

from __future__ import annotations

from pathlib import Path

from weirdgen.backends.hf.models import read_finetune
from weirdgen.backends.protocol import ModelRef
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import HfRecipe

LORA_SHAPE = ("lora_rank", "lora_alpha", "lora_dropout", "use_rslora", "target_modules")
"""Recipe fields a LoRA adapter is made with; a further stage keeps the adapter it starts from."""


def start_folder(start: ModelRef, base: ModelRef, label: str, recipe: HfRecipe) -> Path:
    """The folder of finetune ``start`` (its adapter or weights), to be trained further with
    ``recipe`` on the base model ``base`` (named ``label``).

    Raises:
        WeirdgenError: ``start`` is not a finetune of ``base``, its files are missing, or
            ``recipe`` would train it with another method or another adapter shape.
    """
    head = f"cannot train {start.key} further on {label}"
    if start.backend != base.backend or start.base != base.base:
        raise WeirdgenError(
            f"{head}: it is a model of {start.backend}/{start.base}, not a finetune of "
            f"{base.base}; start the second stage from a finetune of this base model"
        )
    if start.path is None or not Path(start.path).is_dir():
        raise WeirdgenError(
            f"{head}: its files at {start.path} are missing; delete the run folder's "
            "store.sqlite to train the first stage again"
        )
    found = read_finetune(start, label, base.key, "train it further on its own base model")
    if found.method != recipe.method:
        raise WeirdgenError(
            f"{head}: it was finetuned with method {found.method}, and a second stage trains "
            f"the same weights further; set train.hf.method to {found.method}"
        )
    if recipe.method == "lora":
        wanted = recipe.model_dump(mode="json")
        differ = [f for f in LORA_SHAPE if found.record["recipe"].get(f) != wanted[f]]
        if differ:
            shown = ", ".join(f"{f} {found.record['recipe'].get(f)!r}" for f in differ)
            raise WeirdgenError(
                f"{head}: its adapter was made with {shown}, and a second stage trains that "
                "adapter further; set train.hf to the same values"
            )
    return found.folder
