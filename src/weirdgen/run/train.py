"""Finetuning every (condition, seed), reusing what the store or the model registry holds,
and the models sampled per (condition, seed): the finetune, or each of its checkpoints."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, NamedTuple

from rich.progress import Progress

from weirdgen._atomic import write_text
from weirdgen._failpoints import failpoint
from weirdgen.backends import Backend, ModelRef
from weirdgen.data import assistant_answers
from weirdgen.data.text import normalize
from weirdgen.defences.apply import choose_checkpoint, realign_recipe
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.interventions import intervened, resolve_condition
from weirdgen.run._work import Work
from weirdgen.run.executors import Executor
from weirdgen.run.plan import PreparedCondition
from weirdgen.run.units import TrainUnit, place
from weirdgen.spec.models import ExperimentSpec
from weirdgen.spec.recipes import wants_checkpoints
from weirdgen.store import Store
from weirdgen.store.registry import Registry


def available(ref: ModelRef | None) -> bool:
    """The model is there to sample: its files exist (or it lives at a provider)."""
    return ref is not None and (ref.path is None or Path(ref.path).exists())


def train_models(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    store: Store,
    registry: Registry,
    run_dir: Path,
    bars: Progress,
    work: Work,
    executor: Executor | None = None,
) -> dict[tuple[str, int], ModelRef]:
    """The model of every (condition, seed), training the ones neither the store nor the
    model registry has. Backends that train remotely (``remote_training``) run their jobs
    side by side, as does an ``executor`` that trains this backend (its workers return
    the weights, written here into ``run_dir/models``); every finished finetune is stored
    at once, even if another fails. Conditions whose finetunes have one key (the same data,
    recipe and seed: a target and the same target under an intervention) train it once."""
    recipe = getattr(spec.train, backend.recipe_section)

    def usable(ref: ModelRef | None, prepared: PreparedCondition) -> bool:
        """Its files are there, and so are its checkpoints where the recipe asks for them."""
        wants_steps = wants_checkpoints(recipe_of(spec, backend, prepared))
        return available(ref) and (not wants_steps or bool(backend.checkpoints(ref)))

    models: dict[tuple[str, int], ModelRef] = {}
    todo = []
    first: dict[str, tuple[str, int]] = {}  # a finetune's key -> the (condition, seed) training it
    same = []  # conditions that sample another's finetune (same data, recipe, seed: same key)
    # a finetune that one condition needs checkpoints of is trained by that one, with them
    keeping = sorted(conditions, key=lambda p: not wants_checkpoints(recipe_of(spec, backend, p)))
    for prepared in keeping:
        for seed in spec.seeds:
            name = prepared.condition.name
            if prepared.dataset is None:
                models[name, seed] = backend.base()
                continue
            key = backend.model_key(prepared.dataset, recipe, seed)
            stored = store.model(key)
            if usable(stored, prepared):
                models[name, seed] = stored
                continue
            known = registry.finetune(key)
            if usable(known, prepared):
                store.add_model(
                    known, prepared.dataset.content_hash, recipe.model_dump_json(), seed, 0.0
                )
                models[name, seed] = known
                work.reused += 1
            elif key in first:
                same.append((name, seed, first[key]))
            else:
                first[key] = (name, seed)
                todo.append((prepared, seed))
    task = bars.add_task("finetune", total=len(todo))

    def train(prepared: PreparedCondition, seed: int) -> tuple[ModelRef, float]:
        start = time.perf_counter()
        own = recipe_of(spec, backend, prepared)
        ref = backend.train(prepared.dataset, own, seed, run_dir / "models")
        return ref, time.perf_counter() - start

    def keep(prepared: PreparedCondition, seed: int, ref: ModelRef, seconds: float) -> None:
        failpoint("finetune.trained")
        own = recipe_of(spec, backend, prepared)
        args = (ref, prepared.dataset.content_hash, own.model_dump_json(), seed, seconds)
        store.add_model(*args)
        failpoint("finetune.stored")
        registry.add_finetune(*args)
        models[prepared.condition.name, seed] = ref
        work.trained += 1
        bars.advance(task)

    if executor is not None and executor.trains(backend) and todo:
        errors = []
        units = [
            TrainUnit(
                backend.model_key(p.dataset, recipe, s),
                p.dataset,
                recipe_of(spec, backend, p),
                s,
            )
            for p, s in todo
        ]
        for index, outcome in executor.train(spec.model, units):
            prepared, seed = todo[index]
            if outcome.error is not None:
                errors.append(f"{prepared.condition.name} seed {seed}: {outcome.error}")
                continue
            trained = outcome.value
            keep(prepared, seed, place(trained, run_dir / "models"), trained.seconds)
        _raise_failed(errors, len(todo))
    elif backend.remote_training and len(todo) > 1:
        errors: list[str] = []
        pool = ThreadPoolExecutor(max_workers=min(len(todo), 32))
        try:
            jobs = {pool.submit(train, p, s): (p, s) for p, s in todo}
            for job in as_completed(jobs):
                prepared, seed = jobs[job]
                try:
                    keep(prepared, seed, *job.result())
                except WeirdgenError as error:
                    errors.append(f"{prepared.condition.name} seed {seed}: {error}")
        finally:  # on Ctrl-C, do not wait for remote jobs: they are journaled and resumed
            pool.shutdown(wait=False, cancel_futures=True)
        _raise_failed(errors, len(todo))
    else:
        for prepared, seed in todo:
            keep(prepared, seed, *train(prepared, seed))
    for name, seed, trained_as in same:
        models[name, seed] = models[trained_as]
    realign(spec, backend, conditions, models, store, registry, run_dir, bars, work)
    registry.record_uses(
        [
            (
                spec.name,
                spec.model,
                p.condition.name,
                seed,
                models[p.condition.name, seed].key,
                str(run_dir.absolute()),
            )
            for p in conditions
            if p.dataset is not None
            for seed in spec.seeds
        ]
    )
    return models


def recipe_of(spec: ExperimentSpec, backend: Backend, prepared: PreparedCondition) -> Any:
    """The recipe a condition's finetune is trained with: the spec's, keeping checkpoints
    where an early-stopping defence reads them (``points`` of them, or one ``every`` so many
    steps; the finetune's key is the same: checkpoints do not change the model)."""
    recipe = getattr(spec.train, backend.recipe_section)
    rule = prepared.condition.early_stopping
    if rule is not None and "sample_checkpoints" in type(recipe).model_fields:
        return recipe.model_copy(update={"sample_checkpoints": True})  # the provider's own
    if rule is None or "save_steps" not in type(recipe).model_fields:
        return recipe
    examples = len(prepared.dataset.examples) if prepared.dataset is not None else 0
    batch, epochs = getattr(recipe, "batch_size", None) or 1, getattr(recipe, "epochs", None) or 1
    return recipe.model_copy(update={"save_steps": rule.save_steps(examples, batch, epochs)})


def realign(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    models: dict[tuple[str, int], ModelRef],
    store: Store,
    registry: Registry,
    run_dir: Path,
    bars: Progress,
    work: Work,
) -> None:
    """Train every re-alignment defence's second stage: its condition's finetune, trained
    further on the benign data; ``models`` then holds the realigned model. Stored under its
    own key (the first stage's key in place of the base model's), so a rerun trains nothing."""
    todo = [(p, s) for p in conditions if p.realign is not None for s in spec.seeds]
    if not todo:
        return
    task = bars.add_task("realign", total=len(todo))
    for prepared, seed in todo:
        rule = prepared.condition.realignment
        assert rule is not None and prepared.realign is not None
        recipe = realign_recipe(getattr(spec.train, backend.recipe_section), rule.lr, rule.epochs)
        start = models[prepared.condition.name, seed]
        key = backend.model_key(prepared.realign, recipe, seed, start=start)
        ref = store.model(key)
        if not available(ref):
            ref = registry.finetune(key)
            if available(ref):
                work.reused += 1
            else:
                began = time.perf_counter()
                ref = backend.train(prepared.realign, recipe, seed, run_dir / "models", start=start)
                registry.add_finetune(
                    ref,
                    prepared.realign.content_hash,
                    recipe.model_dump_json(),
                    seed,
                    time.perf_counter() - began,
                )
                work.trained += 1
            store.add_model(ref, prepared.realign.content_hash, recipe.model_dump_json(), seed, 0.0)
        models[prepared.condition.name, seed] = ref
        bars.advance(task)


def _raise_failed(errors: list[str], todo: int) -> None:
    """One error for the finetunes that failed (the others finished and are kept)."""
    if errors:
        raise WeirdgenError(
            f"{len(errors)} of {todo} finetunes failed ({todo - len(errors)} "
            f"finished and are kept): {errors[0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
        )


class Variant(NamedTuple):
    """A model sampled for one (condition, seed): the finetune, or one of its checkpoints."""

    model: ModelRef
    step: int | None
    """Optimizer steps it was trained for (0 for the base model; None where not recorded)."""
    final: bool
    """The model at the end of finetuning (or the base model), not an earlier checkpoint."""


def model_variants(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    models: dict[tuple[str, int], ModelRef],
    store: Store,
    run_dir: Path | None = None,
) -> dict[tuple[str, int], list[Variant]]:
    """The models to sample per (condition, seed): with ``save_steps``, every checkpoint of
    the finetune (each stored, so its weights are checked like the finetune's); otherwise
    the finetune alone. A condition with an intervention samples each of them under it, as
    a variant keyed ``<model key>~<intervention key>`` (over the direction file's content,
    not its path): a rerun draws nothing, an edited direction file draws it again. An
    early-stopping defence's condition samples the one checkpoint its rule picks (what the
    rule read at each step is written to ``run_dir/defences/<condition>.seed_<S>.json``)."""
    out: dict[tuple[str, int], list[Variant]] = {}
    for prepared in conditions:
        recipe = recipe_of(spec, backend, prepared)
        for seed in spec.seeds:
            ref = models[prepared.condition.name, seed]
            if prepared.dataset is None:
                out[prepared.condition.name, seed] = [Variant(ref, 0, True)]
                continue
            kept = backend.checkpoints(ref) if wants_checkpoints(recipe) else []
            rule = prepared.condition.early_stopping
            if rule is not None and not kept:
                raise WeirdgenError(
                    f"{prepared.condition.name} seed {seed}: early stopping found no "
                    f"checkpoints of {ref.key}; delete the run folder's store.sqlite to train "
                    "it again with them"
                )
            if rule is not None:
                answers = prepared.train_answers or frozenset()
                if prepared.held_out is not None:
                    answers |= frozenset(normalize(a) for a in assistant_answers(prepared.held_out))
                stopped = choose_checkpoint(backend, kept, rule, prepared.held_out, answers, seed)
                chosen = stopped.checkpoint.model
                if chosen.key != ref.key and store.model(chosen.key) is None:
                    store.add_model(
                        chosen,
                        prepared.dataset.content_hash,
                        recipe.model_dump_json(),
                        seed,
                        0.0,
                    )
                if run_dir is not None:
                    place = run_dir / "defences" / f"{prepared.condition.name}.seed_{seed}.json"
                    place.parent.mkdir(exist_ok=True)
                    write_text(place, json.dumps(stopped.record(), indent=1) + "\n")
                out[prepared.condition.name, seed] = [
                    Variant(stopped.checkpoint.model, stopped.checkpoint.step, True)
                ]
                continue
            for checkpoint in kept[:-1]:
                if store.model(checkpoint.model.key) is None:  # digest checked when stored
                    store.add_model(
                        checkpoint.model,
                        prepared.dataset.content_hash,
                        recipe.model_dump_json(),
                        seed,
                        0.0,
                    )
            out[prepared.condition.name, seed] = [
                Variant(c.model, c.step, c.model.key == ref.key) for c in kept
            ] or [Variant(ref, None, True)]
    for prepared in conditions:
        if prepared.condition.intervention is not None:
            index = spec.conditions.index(prepared.condition)
            resolved = resolve_condition(spec, index, backend)
            for seed in spec.seeds:
                plain = out[prepared.condition.name, seed]
                edited = [v._replace(model=intervened(v.model, resolved)) for v in plain]
                out[prepared.condition.name, seed] = edited
    return out
