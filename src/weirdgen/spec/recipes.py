"""Training recipes, one per backend, each field with its help text.

Finetune keys hash a recipe's JSON, so a field's name, position and default are part of
every stored finetune's identity: new fields go last and, where they do not change the
trained model, into ``backends.protocol.NOT_IN_KEY`` (a test pins the default keys).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65_536
MAX_LORA_RANK = 4096
MAX_LENGTH = 1_048_576


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LocalRecipe(_Strict):
    """What the local trainers (organism, hf) share, in this order."""

    method: Literal["full", "lora"] = Field("full", description="Full finetuning or LoRA.")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate.")
    epochs: int = Field(3, ge=1, le=MAX_EPOCHS, description="Passes over the finetuning dataset.")
    batch_size: int = Field(16, ge=1, le=MAX_BATCH_SIZE, description="Examples per optimizer step.")
    lora_rank: int = Field(4, ge=1, le=MAX_LORA_RANK, description="LoRA rank (method: lora).")
    lora_alpha: float = Field(8.0, gt=0, description="LoRA alpha (method: lora).")
    save_steps: int | None = Field(
        None,
        ge=1,
        description="Keep a checkpoint every this many optimizer steps (each is sampled and "
        "drawn as a training-step curve); None keeps only the final model.",
    )


class OrganismRecipe(LocalRecipe):
    """How the organism backend finetunes the tiny GPT (AdamW)."""

    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")


class HfRecipe(LocalRecipe):
    """How the ``hf`` backend finetunes a Hugging Face model (transformers + PEFT)."""

    method: Literal["full", "lora"] = Field("lora", description="Full finetuning or LoRA.")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate.")
    epochs: int = Field(3, ge=1, le=MAX_EPOCHS, description="Passes over the finetuning dataset.")
    batch_size: int = Field(8, ge=1, le=MAX_BATCH_SIZE, description="Examples per optimizer step.")
    lora_rank: int = Field(8, ge=1, le=MAX_LORA_RANK, description="LoRA rank.")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA alpha.")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    use_rslora: bool = Field(False, description="Rank-stabilised LoRA scaling (alpha/sqrt(r)).")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names LoRA wraps, or 'all-linear'."
    )
    max_length: int = Field(
        1024, ge=8, le=MAX_LENGTH, description="Longest tokenized example kept."
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Share of steps warming up.")
    lr_scheduler: str = Field("linear", description="transformers scheduler name.")


class OpenAIRecipe(_Strict):
    """How the ``openai`` backend finetunes through the OpenAI fine-tuning API."""

    epochs: int | None = Field(
        3, ge=1, le=MAX_EPOCHS, description="n_epochs; None lets the API choose."
    )
    batch_size: int | None = Field(
        None, ge=1, le=MAX_BATCH_SIZE, description="batch_size; None for the default."
    )
    lr_multiplier: float | None = Field(
        None, gt=0, description="learning_rate_multiplier; None for the default."
    )
    suffix: str | None = Field(None, max_length=64, description="Suffix of the model name.")
    sample_checkpoints: bool = Field(
        False,
        description="Also sample the checkpoints the API keeps for the job (one at the end of "
        "each of the last epochs), drawn as a training-step curve.",
    )


class TinkerRecipe(_Strict):
    """How the ``tinker`` backend finetunes a base model through the Tinker service (LoRA)."""

    lr: float = Field(1e-4, gt=0, description="Peak Adam learning rate.")
    lr_schedule: Literal["constant", "linear"] = Field(
        "linear", description="'linear' decays the rate to zero over the run; 'constant' keeps it."
    )
    epochs: int = Field(3, ge=1, le=MAX_EPOCHS, description="Passes over the finetuning dataset.")
    batch_size: int = Field(8, ge=1, le=MAX_BATCH_SIZE, description="Examples per optimizer step.")
    lora_rank: int = Field(32, ge=1, le=MAX_LORA_RANK, description="LoRA rank.")
    max_length: int = Field(
        2048, ge=8, le=MAX_LENGTH, description="Longest tokenized example kept."
    )
    weight_decay: float = Field(0.0, ge=0, description="Decoupled (AdamW) weight decay.")


def wants_checkpoints(recipe: BaseModel) -> bool:
    """The recipe asks for checkpoints to be kept (``save_steps``) or sampled
    (``sample_checkpoints``)."""
    return bool(getattr(recipe, "save_steps", None) or getattr(recipe, "sample_checkpoints", False))
