"""The ``hf`` backend: Hugging Face causal LMs finetuned with PEFT and sampled in batches."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from weirdgen.backends.hf import chat
from weirdgen.backends.hf.chat import encode_chat, prompt_ids, strip_thinking
from weirdgen.backends.hf.folder import content_key, pick_device, quiet, require_hf, resolve_folder
from weirdgen.backends.hf.models import PROVENANCE, LoadedModels
from weirdgen.backends.protocol import (
    Chat,
    Checkpoint,
    FirstTokenLogprobs,
    ModelRef,
    SampleRequest,
    as_chat,
    finetune_key,
    group_by_settings,
)
from weirdgen.backends.provenance import checkpoints_of, provenance, write_provenance
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.interventions import applied, split
from weirdgen.spec.models import HfRecipe


class HfBackend:
    """Backend ``hf``: LoRA or full finetuning of a causal LM, and batched sampling.

    Runs on ``$WEIRDGEN_DEVICE`` if set, else CUDA when available, else the CPU (float32 on
    the CPU, bfloat16 on a GPU that has it). Sampled models stay loaded (see
    :class:`LoadedModels`).

    Args:
        name: A local model folder, or a Hub id already in the local Hugging Face cache.
        batch_size: Most prompts generated together.
    """

    name = "hf"
    recipe_section = "hf"
    remote_training = False
    keeps_checkpoints = True
    continues_training = True
    edits_residuals = True
    usage = None

    def __init__(self, name: str, batch_size: int = 64):
        require_hf()
        if not name:
            raise WeirdgenError(
                "model 'hf/': name a model folder or Hub id, e.g. hf/Qwen/Qwen3-0.6B"
            )
        self.model_name = name
        self.batch_size = batch_size

    @cached_property
    def folder(self) -> Path:
        return resolve_folder(self.model_name)

    @cached_property
    def device(self) -> torch.device:
        return pick_device()

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        except Exception as error:
            raise WeirdgenError(
                f"model 'hf/{self.model_name}': cannot load a tokenizer from {self.folder} "
                f"({type(error).__name__}: {error})"
            ) from error

    @cached_property
    def _base_key(self) -> str:
        return content_key(self.folder)

    @cached_property
    def models(self) -> LoadedModels:
        """The models loaded for sampling (the base, adapters on it, a full finetune)."""
        label = f"hf/{self.model_name}"
        return LoadedModels(label, self.folder, self._base_key, self.device, self.tokenizer)

    def base(self) -> ModelRef:
        return ModelRef(self.name, self._base_key, str(self.folder))

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        chat.check_prompts(self._chat_tokenizer(where), prompts, where)

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        chat.check_dataset(self._chat_tokenizer(where), dataset, where)

    def model_key(
        self, dataset: ChatDataset, recipe: HfRecipe, seed: int, *, start: ModelRef | None = None
    ) -> str:
        """The finetune's content key; ``start`` (a finetune trained further) stands in for
        the base model in it."""
        begin = start.key if start is not None else self._base_key
        return finetune_key(self.name, begin, dataset, recipe, seed)

    def train(
        self,
        dataset: ChatDataset,
        recipe: HfRecipe,
        seed: int,
        out_dir: Path,
        *,
        start: ModelRef | None = None,
    ) -> ModelRef:
        """Finetune per ``recipe``; save the adapter (or weights) under ``out_dir/<key>/``,
        and each checkpoint ``save_steps`` asks for under ``out_dir/<key>-step<N>/``.

        Each folder also holds ``provenance.json`` (weirdgen's shared provenance record: base
        model and key, dataset hash, recipe, seed, library versions, the loss of every step,
        and in the final folder the list of checkpoints).

        ``start``, a finetune of this base, is trained further instead of the base model (a
        second stage, as re-alignment is): its adapter, trainable again, or its weights. The
        record then names it as ``base_key``, and the base model's key as
        ``extra.base_model_key``; the result samples like any finetune of this base.
        """
        from weirdgen.backends.hf.finetune import check_recipe, finetune
        from weirdgen.backends.hf.stages import start_folder

        check_recipe(recipe)
        if start is not None and start.key == self._base_key:
            start = None  # the base model itself: a plain finetune, with the same key
        begin = None
        if start is not None:
            begin = start_folder(start, self.base(), f"hf/{self.model_name}", recipe)
        tokenizer = self._chat_tokenizer(f"model 'hf/{self.model_name}'")
        examples = [
            encode_chat(tokenizer, e.messages, dataset.place(i), recipe.max_length)
            for i, e in enumerate(dataset.examples)
        ]
        key = self.model_key(dataset, recipe, seed, start=start)
        final, tmp = out_dir / key, out_dir / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        kept: list[tuple[int, Path]] = []

        def save(step: int, model: Any) -> None:
            folder = out_dir / f".{key}-step{step}.tmp"
            shutil.rmtree(folder, ignore_errors=True)
            model.save_pretrained(folder)
            if recipe.method == "full":
                tokenizer.save_pretrained(folder)
            kept.append((step, folder))

        began = time.perf_counter()
        with quiet():
            log = finetune(
                self.folder, tokenizer, examples, recipe, seed, tmp, self.device, save, begin
            )
        seconds = time.perf_counter() - began
        extra: dict[str, Any] = {"base_folder": str(self.folder), "device": str(self.device)}
        if start is not None:
            extra.update(base_model_key=self._base_key, start_path=start.path)

        def record(name: str, losses: list[float], checkpoints: list[dict]) -> dict:
            return provenance(
                backend=self.name,
                key=name,
                base_model=self.model_name,
                base_key=self._base_key if start is None else start.key,
                dataset=dataset,
                recipe=recipe,
                seed=seed,
                losses=losses,
                seconds=seconds,
                checkpoints=checkpoints,
                packages=("transformers", "peft"),
                extra=extra,
            )

        checkpoints = []
        for step, folder in kept:
            name = f"{key}-step{step}"
            write_provenance(folder / PROVENANCE, record(name, log.losses[:step], []))
            shutil.rmtree(out_dir / name, ignore_errors=True)
            os.replace(folder, out_dir / name)
            checkpoints.append(
                {"step": step, "key": name, "file": name, "loss": log.losses[step - 1]}
            )
        write_provenance(tmp / PROVENANCE, record(key, log.losses, checkpoints))
        self.models.forget(key)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return ModelRef(self.name, key, str(self.folder), str(final))

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """The checkpoints listed in the finetune's provenance record, then the final model."""
        return checkpoints_of(model, Path(model.path) / PROVENANCE if model.path else None)

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        return nullcontext()

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order, with ``<think>`` blocks removed.

        Requests with the same temperature and max_tokens are generated together, shortest
        prompts first, in batches of ``batch_size``. Each row samples from its own stream
        seeded by its request's seed, so its answer does not depend on the other rows of its
        batch, except through floating-point differences that padding can cause in batched
        matmuls (which can flip a token only at a near-tie). Temperature 0 is greedy. A
        model that carries an intervention is sampled with it applied to the residual stream.
        """
        from weirdgen.backends.hf.generate import generate_rows

        tokenizer = self._chat_tokenizer(f"model 'hf/{self.model_name}'")
        ids = {r.text: prompt_ids(tokenizer, r.messages, "sample") for r in requests}
        groups = group_by_settings(requests)
        out = [""] * len(requests)
        model, intervention = split(model)
        with self.models.using(model) as lm, applied(intervention, lm):
            for (temperature, max_tokens), rows in groups.items():
                rows.sort(key=lambda i: len(ids[requests[i].text]))
                for chunk in _chunks(rows, self.batch_size):
                    tokens = generate_rows(
                        lm,
                        [ids[requests[i].text] for i in chunk],
                        [requests[i].seed for i in chunk],
                        temperature,
                        max_tokens,
                        self.models.stop_ids,
                        self.models.pad_id,
                    )
                    for i, row in zip(chunk, tokens, strict=True):
                        out[i] = strip_thinking(tokenizer.decode(row, skip_special_tokens=True))
        return out

    def logprobs(
        self, model: ModelRef, prompts: Sequence[Chat | str], top_k: int = 20
    ) -> list[FirstTokenLogprobs]:
        """The ``top_k`` most likely first answer tokens to each prompt, with log-probabilities.

        Prompts are rendered with ``enable_thinking=False`` (templates that know it, as
        Qwen3's, then close the think block in the prompt), so the first token is the answer's.
        """
        from weirdgen.backends.hf.generate import next_token_logprobs

        tokenizer = self._chat_tokenizer(f"model 'hf/{self.model_name}'")
        chats = [as_chat(p) for p in prompts]
        rows = [prompt_ids(tokenizer, c, "logprobs", enable_thinking=False) for c in chats]
        records: list[FirstTokenLogprobs] = []
        model, intervention = split(model)
        with self.models.using(model) as lm, applied(intervention, lm):
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                values, token_ids = next_token_logprobs(lm, chunk, top_k, self.models.pad_id)
                for prompt, lps, tids in zip(
                    chats[start:], values.tolist(), token_ids.tolist(), strict=False
                ):
                    top = tuple(
                        (tokenizer.decode([t]), lp) for t, lp in zip(tids, lps, strict=True)
                    )
                    records.append(FirstTokenLogprobs(prompt, top))
        return records

    def _chat_tokenizer(self, where: str) -> Any:
        if not getattr(self.tokenizer, "chat_template", None):
            raise WeirdgenError(
                f"{where}: the tokenizer of hf/{self.model_name} ({self.folder}) has no chat "
                "template; use a chat (instruct) model, or add 'chat_template' to its "
                "tokenizer_config.json (or a chat_template.jinja file)"
            )
        return self.tokenizer


def _chunks(rows: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
