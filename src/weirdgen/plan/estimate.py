"""The plan of a run, computed from its spec and stores without calling any model.

It mirrors the run's own keys: finetunes by ``backend.model_key`` (found in the run store or
the model registry, as :mod:`weirdgen.run.train` looks them up), samples by
:func:`~weirdgen.run.plan.sample_key` over :func:`~weirdgen.run.plan.prompts`, and judge
calls by each judge's ``planned_calls`` for the answers already sampled.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from weirdgen.backends import Backend, ModelRef, get_backend
from weirdgen.backends.openai.keys import without_key
from weirdgen.defences.apply import prompts_for, realign_recipe
from weirdgen.mechanism.interventions import intervened_key, resolve_condition
from weirdgen.plan.judges import judge_rows
from weirdgen.plan.model import Plan, Row
from weirdgen.plan.prices import PriceTable, load_prices
from weirdgen.plan.tokens import TokenCounter
from weirdgen.run.plan import (
    PreparedCondition,
    Prompt,
    build_scorers,
    check,
    load_condition,
    prompts,
    sample_key,
    score_item_key,
    with_overrides,
)
from weirdgen.run.train import available
from weirdgen.score import ScoreItem
from weirdgen.spec.models import ExperimentSpec
from weirdgen.spec.recipes import wants_checkpoints
from weirdgen.store import Store
from weirdgen.store.judgments import JudgmentCache
from weirdgen.store.registry import Registry
from weirdgen.store.sqlite import damaged

ASSUMED_EPOCHS = 3
"""Epochs assumed where a recipe lets the provider choose (``epochs: null``)."""


class Sampled(NamedTuple):
    """The sampling stage's row, the answers already stored (as score items by item key)
    and how many answers each prompt still lacks."""

    row: Row
    known: dict[str, ScoreItem]
    unknown: list[tuple[Prompt, int]]


def estimate(
    spec: ExperimentSpec,
    model: str | None = None,
    judge: str | None = None,
    out: str | Path | None = None,
    prices: str | Path | PriceTable | None = None,
    *,
    n: int | None = None,
    seeds: int | list[int] | None = None,
    backend: Backend | None = None,
) -> Plan:
    """What running ``spec`` into ``out`` (default ``runs/<name>``) needs and costs.

    Args:
        model: ``provider/name`` overriding the spec's model (as ``weirdgen run --model``).
        judge: ``provider/name`` replacing the model of every judge (its other settings kept).
        prices: a price file, a loaded table, or None for the default lookup
            (:func:`weirdgen.plan.prices.price_file`).
        n, seeds, backend: as :func:`weirdgen.run_experiment` takes them.

    Raises:
        WeirdgenError: the spec fails the run's own checks, or the price file is bad.
    """
    spec = with_overrides(spec, n, model, seeds, judge)
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    with without_key():  # no call is made: an API key need not be set (where it goes is checked)
        backend = backend if backend is not None else get_backend(spec.model)
        scorers = build_scorers(spec)
    conditions = [load_condition(spec, c, draw=False) for c in spec.conditions]
    asked = prompts(spec)
    check(spec, backend, conditions, scorers, asked)
    run_dir = Path(out) if out is not None else Path("runs") / spec.name
    path = run_dir / "store.sqlite"
    store = Store(path) if path.is_file() else None  # planning creates no file
    registry = Registry()
    known_registry = registry if registry.path.is_file() else None
    notes: list[str] = []
    try:
        counter = TokenCounter(backend)
        train, variants = _finetunes(spec, backend, conditions, store, known_registry, table)
        notes += _finetune_notes(spec, backend, train)
        sampled = _samples(spec, conditions, variants, asked, store, counter, table)
        judges = [s for s in scorers if hasattr(s, "planned_calls")]
        cache = JudgmentCache(known_registry) if known_registry is not None else None
        rows, judge_notes = judge_rows(judges, sampled.known, sampled.unknown, store, cache, table)
    except sqlite3.DatabaseError as error:
        raise damaged(path, error) from error
    finally:
        if store is not None:
            store.close()
    all_rows = (train, sampled.row, *rows) if train.needed else (sampled.row, *rows)
    if any(not r.exact and (r.prompt_tokens or r.training_tokens) for r in all_rows):
        notes.append(
            "~ marks token counts estimated at 4 characters per token plus 3 per message "
            "(no tokenizer at hand for that model); the organism's are exact"
        )
    return Plan(spec.name, run_dir, table.path, all_rows, tuple(notes + judge_notes))


def _finetunes(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    store: Store | None,
    registry: Registry | None,
    table: PriceTable,
) -> tuple[Row, dict[tuple[str, int], list[tuple[str, bool]]]]:
    """The finetune row and, per (condition, seed), the model keys sampled (with whether
    each is a finetune): the base model's, the finetune's, or its checkpoints' where the
    recipe keeps them and the finetune is already here to list them."""
    recipe = getattr(spec.train, backend.recipe_section)
    wants_steps = wants_checkpoints(recipe)
    variants: dict[tuple[str, int], list[tuple[str, bool]]] = {}
    needed: dict[str, PreparedCondition] = {}
    stored: set[str] = set()
    for prepared in conditions:
        for seed in spec.seeds:
            name = prepared.condition.name
            if prepared.dataset is None:
                variants[name, seed] = [(backend.base().key, False)]
                continue
            key = backend.model_key(prepared.dataset, recipe, seed)
            needed.setdefault(key, prepared)
            ref = _finetune(key, store, registry)
            kept = []
            if ref is not None and wants_steps and not backend.remote_training:
                kept = backend.checkpoints(ref)
                ref = ref if kept else None  # the run retrains a finetune without them
            if ref is not None:
                stored.add(key)
            variants[name, seed] = [(c.model.key, True) for c in kept] or [(key, True)]
            rule = prepared.condition.realignment
            if rule is not None and prepared.realign is not None:  # the second stage, as run
                stage = realign_recipe(recipe, rule.lr, rule.epochs)
                start = ModelRef(backend.name, key, backend.base().base)
                second = backend.model_key(prepared.realign, stage, seed, start=start)
                needed.setdefault(second, replace(prepared, dataset=prepared.realign))
                if _finetune(second, store, registry) is not None:
                    stored.add(second)
                variants[name, seed] = [(second, True)]
    for prepared in conditions:  # an intervened condition's samples are its own, as run
        if prepared.condition.intervention is not None:
            index = spec.conditions.index(prepared.condition)
            resolved = resolve_condition(spec, index, backend)
            for seed in spec.seeds:
                listed = variants[prepared.condition.name, seed]
                variants[prepared.condition.name, seed] = [
                    (intervened_key(k, resolved), f) for k, f in listed
                ]
    counter = TokenCounter(backend)
    epochs = getattr(recipe, "epochs", 1)
    todo = [p.dataset for k, p in needed.items() if k not in stored]
    tokens = sum(counter.dataset(d) for d in todo) * (epochs or ASSUMED_EPOCHS)
    price = table.find(spec.model)
    usd: float | None = 0.0
    if todo:
        usd = None if price is None or price.training is None else tokens * price.training / 1e6
    row = Row(
        "finetune",
        "",
        spec.model,
        len(needed),
        len(stored),
        training_tokens=tokens,
        exact=counter.exact,
        usd=usd,
        assumed=wants_steps or epochs is None,
    )
    return row, variants


def _finetune(key: str, store: Store | None, registry: Registry | None) -> ModelRef | None:
    """The finetune ``key`` where the run would find it: its store, then the registry."""
    ref = store.model(key) if store is not None else None
    if not available(ref) and registry is not None:
        ref = registry.finetune(key)
    return ref if available(ref) else None


def _finetune_notes(spec: ExperimentSpec, backend: Backend, row: Row) -> list[str]:
    recipe = getattr(spec.train, backend.recipe_section)
    notes = []
    if row.todo and getattr(recipe, "epochs", 1) is None:
        notes.append(
            f"train.{backend.recipe_section}.epochs lets the provider choose; training tokens "
            f"assume {ASSUMED_EPOCHS} epochs"
        )
    if wants_checkpoints(recipe):
        notes.append(
            "the recipe keeps checkpoints: each is sampled too, but only those of finetunes "
            "already trained (on a local backend) are counted"
        )
    distilled = [
        c.name
        for c in spec.conditions
        for t in c.transforms
        if t.mix is not None and t.mix.dataset.distill is not None
    ]
    if distilled:
        notes.append(
            f"{', '.join(distilled)}: self-distilled answers are drawn only by the run (one "
            "base-model sample per ordinary prompt, not counted here), so these finetunes "
            "count as to do"
        )
    stopped = [c.name for c in spec.conditions if c.early_stopping is not None]
    if stopped:
        notes.append(
            f"{', '.join(stopped)}: early stopping samples the checkpoint its rule picks, "
            "counted here as the final model, and samples its held-out prompts at each "
            "checkpoint until the rule holds (not counted)"
        )
    return notes


def _samples(
    spec: ExperimentSpec,
    conditions: list[PreparedCondition],
    variants: dict[tuple[str, int], list[tuple[str, bool]]],
    asked: list[Prompt],
    store: Store | None,
    counter: TokenCounter,
    table: PriceTable,
) -> Sampled:
    """Unique sample keys of the run (conditions sharing a model share samples), which of
    them the store holds, and the cost of the rest."""
    planned: dict[str, tuple[int, int, bool]] = {}  # key -> (prompt, condition, finetuned)
    shown: list[Prompt] = []  # every prompt as some condition asks it (test-time changes)
    for c, prepared in enumerate(conditions):
        mine = prompts_for(asked, prepared.condition.test_time)
        first = len(shown)
        shown.extend(mine)
        for seed in spec.seeds:
            for model_key, finetuned in variants[prepared.condition.name, seed]:
                for j, p in enumerate(mine, start=first):
                    for i in range(p.n):
                        key = sample_key(model_key, p.text, p.temperature, p.max_tokens, seed, i)
                        planned.setdefault(key, (j, c, finetuned))
    asked = shown
    answers = store.answers(list(planned)) if store is not None else {}
    train = [p.train_answers for p in conditions]
    known: dict[str, ScoreItem] = {}
    for key, answer in answers.items():
        j, c, _ = planned[key]
        p = asked[j]
        item_key = score_item_key(key, answer, p.question, train[c])
        known[item_key] = ScoreItem(p.question, answer, train[c], p.messages, p.eval_set)
    todo = Counter((j, finetuned) for k, (j, _, finetuned) in planned.items() if k not in answers)
    prompt_tokens = sum(counter.chat(asked[j].messages) * n for (j, _), n in todo.items())
    completion = sum(asked[j].max_tokens * n for (j, _), n in todo.items())
    usd: float | None = 0.0
    price = table.find(spec.model)
    for (j, finetuned), n in todo.items():
        cost = (
            None
            if price is None
            else price.tokens(
                counter.chat(asked[j].messages) * n, asked[j].max_tokens * n, finetuned
            )
        )
        usd = None if usd is None or cost is None else usd + cost
    per_prompt = Counter()
    for (j, _), n in todo.items():
        per_prompt[j] += n
    row = Row(
        "sample",
        "",
        spec.model,
        len(planned),
        len(answers),
        prompt_tokens,
        completion,
        exact=counter.exact,
        usd=usd,
    )
    return Sampled(row, known, [(asked[j], n) for j, n in sorted(per_prompt.items())])
