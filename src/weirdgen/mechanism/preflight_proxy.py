"""The proxy finetune: a few optimizer steps of a small local model on the dataset, with the
backend's own recipe from the spec, as a cheap stand-in for the finetune the preflight
predicts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, NamedTuple

from weirdgen.backends import Backend, ModelRef
from weirdgen.backends.protocol import key_seed
from weirdgen.data import ChatDataset, dataset_from_examples
from weirdgen.spec.models import ExperimentSpec

DEFAULT_STEPS = 10
"""Optimizer steps of a proxy finetune unless ``--proxy-steps`` says otherwise."""


class Proxy(NamedTuple):
    """A proxy finetune: the model, where its files are, and how it was trained."""

    model: ModelRef
    files: list[Path]
    """Its weights and provenance record (a file, or an hf finetune's folder)."""
    steps: int
    examples: int
    recipe: dict[str, Any]
    losses: list[float]
    reused: bool


def proxy_recipe(spec: ExperimentSpec, backend: Backend) -> Any:
    """The spec's recipe for ``backend`` for one pass (the steps are set by the data), with
    no checkpoints kept."""
    recipe = getattr(spec.train, backend.recipe_section)
    return recipe.model_copy(update={"epochs": 1, "save_steps": None})


def proxy_data(dataset: ChatDataset, steps: int, batch_size: int, seed: int) -> ChatDataset:
    """``steps`` batches of the dataset: its examples in seeded shuffled passes, as many
    passes as it takes, cut at ``steps * batch_size`` examples (one epoch of it is
    exactly ``steps`` optimizer steps)."""
    wanted = steps * batch_size
    rng = random.Random(key_seed("preflight proxy", seed, dataset.content_hash))
    order: list[int] = []
    while len(order) < wanted:
        order += rng.sample(range(len(dataset)), len(dataset))
    examples = [dataset.examples[i] for i in order[:wanted]]
    return dataset_from_examples(examples, source=dataset.source)


def train_proxy(
    backend: Backend,
    dataset: ChatDataset,
    recipe: Any,
    steps: int,
    seed: int,
    kept: Path,
    scratch: Path,
) -> Proxy:
    """The proxy finetune of ``backend``'s base model: found in ``kept`` (an earlier
    preflight's, same data, recipe and seed), else trained into ``scratch``."""
    data = proxy_data(dataset, steps, recipe.batch_size, seed)
    key = backend.model_key(data, recipe, seed)
    found = _found(backend, kept, key)
    if found is not None:
        model, files = ModelRef(backend.name, key, backend.base().base, str(found)), [found]
    else:
        model = backend.train(data, recipe, seed, scratch)
        files = sorted(scratch.glob(f"{key}*"))
    weights = Path(model.path) if model.path else None
    return Proxy(
        model,
        files,
        steps,
        len(data),
        recipe.model_dump(mode="json"),
        _losses(weights),
        found is not None,
    )


def _found(backend: Backend, folder: Path, key: str) -> Path | None:
    """The weights of finetune ``key`` in ``folder``: the organism's file, an hf folder."""
    if backend.name == "organism":
        path = folder / f"{key}.safetensors"
        return path if path.is_file() and path.with_suffix(".json").is_file() else None
    path = folder / key
    return path if (path / "provenance.json").is_file() else None


def _losses(weights: Path | None) -> list[float]:
    """The training loss of every step, from the finetune's provenance record."""
    if weights is None:
        return []
    record = weights / "provenance.json" if weights.is_dir() else weights.with_suffix(".json")
    if not record.is_file():
        return []
    return [float(x) for x in json.loads(record.read_text()).get("losses", []) if x is not None]
