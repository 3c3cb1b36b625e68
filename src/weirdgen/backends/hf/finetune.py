"""LoRA or full finetuning with the transformers Trainer, on labels masked to assistant tokens.

TRL's SFTTrainer masks assistant tokens only through ``{% generation %}`` markers in the chat
template, which most templates (Qwen3's among them) lack; :mod:`.chat` computes the labels
for any template instead, and a plain ``Trainer`` trains on them (optimizer, schedule, warmup,
mixed precision, seeded data order). Imported only once transformers is known to be installed.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    PrinterCallback,
    ProgressCallback,
    SchedulerType,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from weirdgen.backends.hf.chat import IGNORE, ChatTokens
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import HfRecipe


class TrainLog(NamedTuple):
    """What a finetune did: the loss of every optimizer step, in order."""

    losses: list[float]
    steps: int


def check_recipe(recipe: HfRecipe) -> None:
    """Raise WeirdgenError for recipe values only transformers can judge."""
    try:
        SchedulerType(recipe.lr_scheduler)
    except ValueError as error:
        names = ", ".join(s.value for s in SchedulerType)
        raise WeirdgenError(
            f"train.hf.lr_scheduler: unknown scheduler {recipe.lr_scheduler!r}; use one of: {names}"
        ) from error


def finetune(
    folder: Path,
    tokenizer: Any,
    examples: Sequence[ChatTokens],
    recipe: HfRecipe,
    seed: int,
    out: Path,
    device: torch.device,
    on_checkpoint: Callable[[int, Any], None] | None = None,
    start: Path | None = None,
) -> TrainLog:
    """Finetune the model in ``folder`` on ``examples`` and save it (adapter or weights) in ``out``.

    ``seed`` seeds the LoRA initialisation, dropout and the data order of every epoch. On a
    GPU with bfloat16, LoRA trains on bfloat16 base weights and full finetuning keeps float32
    weights under bfloat16 autocast; on the CPU everything is float32. Training runs on the
    CPU when ``device`` is, else on the Trainer's GPU (choose it with CUDA_VISIBLE_DEVICES;
    with several GPUs visible the Trainer splits each batch across them).

    With ``recipe.save_steps`` = k, ``on_checkpoint(step, model)`` is called after every k-th
    optimizer step before the last, to save the model as it is then.

    ``start`` is the folder of an earlier finetune of the model in ``folder`` to train
    further: its LoRA adapter, loaded onto the base model as trainable (``seed`` then sets
    only dropout and the data order), or its full weights.
    """
    check_recipe(recipe)
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    lora = recipe.method == "lora"
    transformers.set_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(
        start if start is not None and not lora else folder,
        dtype=torch.bfloat16 if bf16 and lora else torch.float32,
        local_files_only=True,
    )
    if lora and start is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, start, is_trainable=True)
    elif lora:
        model = _with_lora(model, recipe)
    args = TrainingArguments(
        output_dir=str(out / ".trainer"),
        per_device_train_batch_size=recipe.batch_size,
        num_train_epochs=recipe.epochs,
        learning_rate=recipe.lr,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,
        weight_decay=0.0,
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must reach _NonFiniteLoss, not be averaged away
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=device.type == "cpu",
        bf16=bf16,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=list(examples),
        data_collator=_Collate(_pad_id(tokenizer)),
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_NonFiniteLoss())
    if recipe.save_steps and on_checkpoint is not None:
        trainer.add_callback(_Checkpoints(recipe.save_steps, model, on_checkpoint))
    try:
        trainer.train()
    finally:
        shutil.rmtree(out / ".trainer", ignore_errors=True)
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    if lora:
        model.save_pretrained(out)
    else:  # in the base checkpoint's own dtype, not the float32 it trained in
        model.to(_checkpoint_dtype(folder)).save_pretrained(out)
        tokenizer.save_pretrained(out)
    return TrainLog(losses, trainer.state.global_step)


class _Checkpoints(TrainerCallback):
    """Hand the model to a saver every ``every`` optimizer steps, except after the last."""

    def __init__(self, every: int, model: Any, save: Callable[[int, Any], None]) -> None:
        self.every, self.model, self.save = every, model, save

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.every == 0 and step < state.max_steps:
            self.save(step, self.model)


class _NonFiniteLoss(TrainerCallback):
    """Stop a finetune whose loss became NaN or infinite, naming the step."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise WeirdgenError(
                f"finetuning loss became {float(loss)} at step {state.global_step} of "
                f"{state.max_steps}; lower the learning rate"
            )


def _with_lora(model: Any, recipe: HfRecipe) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=recipe.lora_rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        use_rslora=recipe.use_rslora,
        target_modules=recipe.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as error:
        raise WeirdgenError(
            f"train.hf.target_modules: {error}; name modules of this model (e.g. q_proj, "
            "v_proj) or use 'all-linear'"
        ) from error


def _checkpoint_dtype(folder: Path) -> torch.dtype:
    config = json.loads((folder / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    dtype = getattr(torch, str(name), None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else tokenizer.eos_token_id or 0


class _Collate:
    """Right-pad a batch of ChatTokens; padding carries no loss and no attention."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[ChatTokens]) -> dict[str, torch.Tensor]:
        width = max(len(b.input_ids) for b in batch)
        pad = [width - len(b.input_ids) for b in batch]
        return {
            "input_ids": torch.tensor(
                [b.input_ids + [self.pad_id] * p for b, p in zip(batch, pad, strict=True)]
            ),
            "labels": torch.tensor(
                [b.labels + [IGNORE] * p for b, p in zip(batch, pad, strict=True)]
            ),
            "attention_mask": torch.tensor(
                [[1] * len(b.input_ids) + [0] * p for b, p in zip(batch, pad, strict=True)]
            ),
        }
