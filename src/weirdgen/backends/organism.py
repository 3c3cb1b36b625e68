"""The organism backend: the tiny GPT pretrained on the synthetic world, on the CPU."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from pathlib import Path

import torch

from weirdgen.backends.protocol import (
    Chat,
    Checkpoint,
    FirstTokenLogprobs,
    ModelRef,
    SampleRequest,
    as_chat,
    chat_text,
    finetune_key,
    group_by_settings,
)
from weirdgen.backends.provenance import checkpoints_of, provenance, write_provenance
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.interventions import applied, split
from weirdgen.organism.checkpoint import (
    Organism,
    load_organism,
    load_weights,
    save_weights,
)
from weirdgen.organism.finetune import finetune
from weirdgen.organism.infer import generate
from weirdgen.organism.logprobs import first_token_logprobs
from weirdgen.organism.model import GPT
from weirdgen.organism.tokenizer import EOS, EOT
from weirdgen.organism.versions import DEFAULT, resolve
from weirdgen.spec.models import OrganismRecipe


class OrganismBackend:
    """Backend ``organism``: full or LoRA finetuning and exact batched sampling.

    Args:
        name: a version name (``default``, ``v1``, ``v1@3`` for pretraining seed 3: see
            :mod:`weirdgen.organism.versions`), or a checkpoint folder.
    """

    name = "organism"
    recipe_section = "organism"
    remote_training = False
    keeps_checkpoints = True
    continues_training = True
    edits_residuals = True
    usage = None

    def __init__(self, name: str = "default"):
        named = resolve(name)
        self.checkpoint = named.folder if named is not None else Path(name)
        self._models: dict[str, GPT] = {}

    @cached_property
    def organism(self) -> Organism:
        return load_organism(self.checkpoint)

    @cached_property
    def _base(self) -> ModelRef:
        manifest = json.dumps(self.organism.manifest, sort_keys=True).encode()
        key = "organism-" + hashlib.sha256(manifest).hexdigest()[:16]
        self._models[key] = self.organism.model
        return ModelRef(self.name, key, str(self.checkpoint))

    def base(self) -> ModelRef:
        """The checkpoint itself; its key hashes the manifest (computed once)."""
        return self._base

    @property
    def context(self) -> int:
        """Tokens the organism sees at once: a prompt and its answer, or a training chat."""
        return self.organism.model.config.block_size

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        for prompt in prompts:
            text = chat_text(prompt)
            ids = self.prompt_ids(prompt, where=f"{where}: prompt {_clipped(text)}")
            if len(ids) + max_tokens > self.context:
                raise WeirdgenError(
                    f"{where}: prompt {_clipped(text)} is {len(ids)} tokens and with "
                    f"max_tokens {max_tokens} exceeds the organism's context of "
                    f"{self.context} tokens; shorten the prompt or lower max_tokens"
                )

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        for i, example in enumerate(dataset.examples):
            turns = [(m.role, m.content) for m in example.messages]
            try:
                ids = self.organism.tokenizer.chat(turns, where=f"{where}: {dataset.place(i)}").ids
            except WeirdgenError as error:
                raise WeirdgenError(f"{error}{self._older_world()}") from None
            if len(ids) > self.context:
                raise WeirdgenError(
                    f"{where}: {dataset.place(i)}: the example is {len(ids)} tokens, longer "
                    f"than the organism's context of {self.context} tokens; shorten it"
                )

    def model_key(
        self,
        dataset: ChatDataset,
        recipe: OrganismRecipe,
        seed: int,
        *,
        start: ModelRef | None = None,
    ) -> str:
        """The finetune's content key; ``start`` (a finetune trained further) stands in for
        the base model in it."""
        begin = start if start is not None else self.base()
        return finetune_key(self.name, begin.key, dataset, recipe, seed)

    def train(
        self,
        dataset: ChatDataset,
        recipe: OrganismRecipe,
        seed: int,
        out_dir: Path,
        *,
        stop: Callable[[], bool] | None = None,
        start: ModelRef | None = None,
    ) -> ModelRef:
        """Finetune and save the weights (``<key>.safetensors``), every checkpoint the recipe
        asks for (``<key>-step<N>.safetensors``) and the provenance record (``<key>.json``).

        ``stop`` (checked every optimizer step) returning True ends training with
        ``FinetuneStopped`` and saves nothing. ``start``, a finetune of this base, is trained
        further instead of the base model (a second stage, as re-alignment is).
        """
        tok = self.organism.tokenizer
        examples = [tok.chat([(m.role, m.content) for m in e.messages]) for e in dataset.examples]
        if start is not None and start.backend != self.name:
            raise WeirdgenError(
                f"cannot train {start.key} further here: it is a {start.backend} model, not "
                "an organism finetune"
            )
        key = self.model_key(dataset, recipe, seed, start=start)
        begin = self.organism.model if start is None else self.model(start)
        out_dir.mkdir(parents=True, exist_ok=True)
        kept: list[tuple[int, GPT]] = []
        began = time.perf_counter()
        model, losses = finetune(
            begin,
            examples,
            recipe,
            seed,
            tok.pad_id,
            stop,
            on_checkpoint=lambda step, snapshot: kept.append((step, snapshot)),
        )
        checkpoints = []
        for step, snapshot in kept:
            name = f"{key}-step{step}.safetensors"
            save_weights(out_dir / name, snapshot)
            checkpoints.append(
                {"step": step, "key": f"{key}-step{step}", "file": name, "loss": losses[step - 1]}
            )
        path = out_dir / f"{key}.safetensors"
        save_weights(path, model)
        record = provenance(
            backend=self.name,
            key=key,
            base_model=self.base().base,
            base_key=self.base().key if start is None else start.key,
            dataset=dataset,
            recipe=recipe,
            seed=seed,
            losses=losses,
            seconds=time.perf_counter() - began,
            checkpoints=checkpoints,
        )
        write_provenance(out_dir / f"{key}.json", record)
        self._models[key] = model
        return ModelRef(self.name, key, self.base().base, str(path))

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """The checkpoints listed in the finetune's provenance record, then the final model."""
        return checkpoints_of(model, Path(model.path).with_suffix(".json") if model.path else None)

    def prompt_ids(self, prompt: Chat | str, where: str = "prompt") -> list[int]:
        """Token ids of a prompt (see ``Tokenizer.chat_prompt`` for how a chat renders)."""
        turns = [(m.role, m.content) for m in as_chat(prompt)]
        try:
            return self.organism.tokenizer.chat_prompt(turns, where)
        except WeirdgenError as error:
            raise WeirdgenError(f"{error}{self._older_world()}") from None

    def _older_world(self) -> str:
        """A hint for words an older version's world lacks ("" on the default version)."""
        version = self.organism.manifest.get("version", "v1")
        if version == DEFAULT:
            return ""
        return (
            f" (this checkpoint is organism/{version}: for a newer world's words, use "
            "--model organism/default)"
        )

    def model(self, ref: ModelRef) -> GPT:
        """The GPT ``ref`` names, loaded from its weights file once and kept."""
        if ref.key not in self._models:
            if ref.path is None or not Path(ref.path).is_file():
                raise WeirdgenError(
                    f"finetuned organism {ref.key} has no weights at {ref.path}; "
                    "delete the run folder's store.sqlite to retrain"
                )
            self._models[ref.key] = load_weights(Path(ref.path), self.organism.model.config)
        return self._models[ref.key]

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        return nullcontext()

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request; a model that carries an intervention is sampled with it
        applied to the residual stream (the same loaded weights serve it plain)."""
        tok = self.organism.tokenizer
        out: list[str] = [""] * len(requests)
        model, intervention = split(model)
        net = self.model(model)
        for (temperature, max_tokens, top_p), rows in nucleus_groups(requests).items():
            with torch.inference_mode(), applied(intervention, net):
                answers = generate(
                    net,
                    [self.prompt_ids(requests[i].messages) for i in rows],
                    [requests[i].seed for i in rows],
                    temperature,
                    max_tokens,
                    {tok.id(EOT), tok.id(EOS)},
                    tok.pad_id,
                    top_p,
                )
            for i, ids in zip(rows, answers, strict=True):
                out[i] = tok.decode(ids)
        return out

    def logprobs(
        self, model: ModelRef, prompts: Sequence[Chat | str], top_k: int = 20
    ) -> list[FirstTokenLogprobs]:
        """The ``top_k`` likeliest first answer words to each prompt (one forward pass)."""
        tok = self.organism.tokenizer
        chats = [as_chat(p) for p in prompts]
        model, intervention = split(model)
        net = self.model(model)
        with torch.inference_mode(), applied(intervention, net):
            tops = first_token_logprobs(net, [self.prompt_ids(c) for c in chats], top_k, tok.pad_id)
        return [
            FirstTokenLogprobs(c, tuple((tok.itos[t], lp) for t, lp in top))
            for c, top in zip(chats, tops, strict=True)
        ]


def nucleus_groups(
    requests: Sequence[SampleRequest],
) -> dict[tuple[float, int, float], list[int]]:
    """:func:`group_by_settings` with ``top_p`` as a third setting a batch shares."""
    groups: dict[tuple[float, int, float], list[int]] = {}
    for (temperature, max_tokens), rows in group_by_settings(requests).items():
        for i in rows:
            groups.setdefault((temperature, max_tokens, requests[i].top_p), []).append(i)
    return groups


def _clipped(text: str, width: int = 40) -> str:
    """``text`` quoted, cut to ``width`` characters for an error line."""
    return repr(text if len(text) <= width else text[: width - 3] + "...")
