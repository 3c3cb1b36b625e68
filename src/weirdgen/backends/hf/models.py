"""Models held in memory for sampling: the base once, LoRA finetunes as adapters on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import torch

from weirdgen.backends.hf.folder import inference_dtype, quiet
from weirdgen.backends.protocol import ModelRef
from weirdgen.errors import WeirdgenError

PROVENANCE = "provenance.json"


class LoadedModels:
    """The models of one base, loaded on first use and kept, keyed by ModelRef key.

    Every LoRA finetune is an adapter of one PeftModel around the single base copy (so many
    finetunes cost little memory); a full finetune is a whole model, and only the most recent
    one is kept.
    """

    def __init__(self, label: str, folder: Path, base_key: str, device: torch.device, tokenizer):
        self.label = label
        self.folder = folder
        self.base_key = base_key
        self.device = device
        self.tokenizer = tokenizer
        self._peft: Any = None
        self._full: dict[str, Any] = {}

    @cached_property
    def stop_ids(self) -> list[int]:
        """Token ids that end an answer: the model's end-of-turn/EOS ids and the tokenizer's."""
        from transformers import AutoConfig, GenerationConfig

        try:
            eos = GenerationConfig.from_pretrained(self.folder, local_files_only=True).eos_token_id
        except OSError:
            config = AutoConfig.from_pretrained(self.folder, local_files_only=True)
            eos = getattr(config, "eos_token_id", None)
        ids = set(eos if isinstance(eos, list) else [eos])
        ids.add(self.tokenizer.eos_token_id)
        return sorted(i for i in ids if i is not None)

    @cached_property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.stop_ids[0]

    @cached_property
    def base(self) -> Any:
        """The base model, for inference on the backend's device."""
        return self._load(self.folder)

    @contextmanager
    def using(self, ref: ModelRef) -> Iterator[Any]:
        """The model ``ref`` names, ready to run: its adapter active, or adapters disabled."""
        if ref.key == self.base_key:
            if self._peft is None:
                yield self.base
            else:
                with self._peft.disable_adapter():
                    yield self._peft
            return
        folder, method = self._finetune(ref)
        if method == "full":
            if ref.key not in self._full:
                self._full.clear()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self._full[ref.key] = self._load(folder)
            yield self._full[ref.key]
            return
        from peft import PeftModel

        with quiet():
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self.base, folder, adapter_name=ref.key)
            elif ref.key not in self._peft.peft_config:
                self._peft.load_adapter(folder, adapter_name=ref.key)
        self._peft.set_adapter(ref.key)
        self._peft.eval()
        yield self._peft

    def forget(self, key: str) -> None:
        """Drop whatever is loaded of finetune ``key`` (it is being retrained)."""
        self._full.pop(key, None)
        if self._peft is not None and key in self._peft.peft_config:
            self._peft = None  # its adapters live inside the base's modules: reload both
            self.__dict__.pop("base", None)

    def _load(self, folder: Path) -> Any:
        from transformers import AutoModelForCausalLM, GenerationConfig

        with quiet():
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=inference_dtype(self.device), local_files_only=True
            )
        # Plain temperature sampling: drop the model's shipped top_p/top_k/penalty defaults.
        model.generation_config = GenerationConfig(
            bos_token_id=model.generation_config.bos_token_id,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        return model.to(self.device).eval()

    def _finetune(self, ref: ModelRef) -> tuple[Path, str]:
        """The folder and method of a finetune, checked against this base model."""
        found = read_finetune(ref, self.label, self.base_key)
        return found.folder, found.method


class Finetune(NamedTuple):
    """A finetune's saved files: its folder, method (``lora`` or ``full``) and record."""

    folder: Path
    method: str
    record: dict[str, Any]


def base_model_key(record: dict[str, Any]) -> str | None:
    """The key of the base model a finetune descends from. A second stage's record names the
    finetune it started from as ``base_key``, and the base model's key as
    ``extra.base_model_key``."""
    return (record.get("extra") or {}).get("base_model_key") or record.get("base_key")


def read_finetune(
    ref: ModelRef,
    label: str,
    base_key: str,
    fix: str = "sample it with the backend of its base model",
) -> Finetune:
    """The files of finetune ``ref``, checked to descend from the base ``label`` keyed
    ``base_key``; ``fix`` ends the error for another base."""
    folder = Path(ref.path) if ref.path else None
    if folder is None or not (folder / PROVENANCE).is_file():
        raise WeirdgenError(
            f"finetuned model {ref.key} has no saved weights at {ref.path}; "
            "delete the run folder's store.sqlite to retrain"
        )
    record = json.loads((folder / PROVENANCE).read_text())
    if base_model_key(record) != base_key:
        raise WeirdgenError(
            f"finetuned model {ref.key} at {folder} was trained from "
            f"{record.get('base_model')} ({base_model_key(record)}), not from "
            f"{label} ({base_key}); {fix}"
        )
    # "method" at the top: records written before the shared provenance shape
    return Finetune(folder, record.get("method") or record["recipe"]["method"], record)
