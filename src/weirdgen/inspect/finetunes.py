"""The organism finetune a run of an experiment makes for one condition and seed, for the
Inspect provider: taken from the model registry, or trained into it."""

from __future__ import annotations

import time

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import ModelRef
from weirdgen.run.plan import load_condition
from weirdgen.run.train import available
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store.registry import Registry, registry_dir

FOLDER = "inspect-finetunes"
"""Where, in the registry's folder, finetunes trained for Inspect keep their weights."""


def finetune_for(
    backend: OrganismBackend, spec: ExperimentSpec, condition: str, seed: int
) -> ModelRef:
    """The model of ``condition`` and ``seed`` in ``spec`` on ``backend``'s checkpoint: the
    base model for a condition without finetuning; otherwise the finetune under the key a
    run gives it (same checkpoint, data, recipe and seed), so a run and Inspect share it."""
    from weirdgen.inspect.experiment import register

    chosen = register(spec).condition(condition, f"-M condition={condition}")
    prepared = load_condition(spec, chosen)
    if prepared.dataset is None:
        return backend.base()
    where = f"{spec.source or spec.name}: conditions[{spec.conditions.index(chosen)}].dataset"
    backend.check_dataset(prepared.dataset, where)
    recipe = spec.train.organism
    key = backend.model_key(prepared.dataset, recipe, seed)
    registry = Registry()
    known = registry.finetune(key)
    if available(known):
        return known
    start = time.perf_counter()
    ref = backend.train(prepared.dataset, recipe, seed, registry_dir() / FOLDER)
    registry.add_finetune(
        ref,
        prepared.dataset.content_hash,
        recipe.model_dump_json(),
        seed,
        time.perf_counter() - start,
    )
    return ref
