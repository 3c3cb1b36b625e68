"""The orchestrator: compute what the store lacks, in pipeline order, then report.

conditions x seeds -> finetune -> sample (questions x paraphrases x n) -> score -> stats ->
report. Every result is stored under its content key as soon as it exists, so a rerun skips
what is done and a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from weirdgen._atomic import write_text
from weirdgen._failpoints import failpoint
from weirdgen.backends import Backend, ModelRef, SampleRequest, get_backend
from weirdgen.backends.protocol import SamplingFailed, key_seed
from weirdgen.data import write_chat_jsonl
from weirdgen.errors import Interrupted, WeirdgenError
from weirdgen.run.folder import RunFolder
from weirdgen.run.plan import (
    PreparedCondition,
    Prompt,
    check,
    load_condition,
    prompts,
    sample_key,
    score_item_key,
)
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.score import ScoreItem, Scorer, build_scorer
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store import Store, StoredSample
from weirdgen.store.registry import Registry
from weirdgen.store.sqlite import damaged

COMPLETE = "COMPLETE"


@dataclass
class Work:
    """What a run computed (as opposed to found in the store), and how long each stage took.

    ``reused`` counts finetunes found in the model registry (made by another run) rather than
    trained; ``usage`` is the API's token count (requests, prompt and completion tokens) for
    backends that report one.
    """

    trained: int = 0
    reused: int = 0
    sampled: int = 0
    scored: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    stage: str = ""


@dataclass
class RunResult:
    """A finished run: its folder, spec, tidy samples and what it computed."""

    run_dir: Path
    spec: ExperimentSpec
    samples: pd.DataFrame
    work: Work


@contextmanager
def _stage(work: Work, name: str) -> Iterator[None]:
    start = time.perf_counter()
    work.stage = name
    yield
    work.seconds[name] = work.seconds.get(name, 0.0) + time.perf_counter() - start


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


def run_experiment(
    spec: ExperimentSpec,
    out: Path | None = None,
    n: int | None = None,
    model: str | None = None,
    console: Console | None = None,
    seeds: int | list[int] | None = None,
    progress: bool = True,
    backend: Backend | None = None,
) -> RunResult:
    """Run ``spec`` into ``out`` (default ``runs/<name>``), reusing whatever is stored there.

    Finetunes are also looked up in the model registry (:mod:`weirdgen.store.registry`), so
    one another run already made is reused, not trained again.

    Args:
        n: samples per paraphrase, overriding the spec; raising it keeps the old samples.
        seeds: the seeds to run (a count N means 0..N-1), overriding the spec's.
        model: ``provider/name`` overriding the spec's model.
        backend: a backend object to use instead of the one ``model`` names (for backends
            configured in Python, e.g. a vLLM launcher with its own command).

    Raises:
        WeirdgenError: bad input (before anything is written), a failed finetune, or
            samples that could not be drawn (the answers that did arrive are stored first,
            so a rerun requests only the missing ones).
    """
    console = console or Console(stderr=True)
    if n is not None:
        spec = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update={"n": n})})
    if model is not None:
        spec = spec.model_copy(update={"model": model})
    if seeds is not None:
        source = spec.source
        spec = ExperimentSpec.model_validate({**spec.model_dump(), "seeds": seeds})
        spec.source = source
    backend = backend if backend is not None else get_backend(spec.model)
    scorers = [build_scorer(s) for s in spec.scorers]
    conditions = [load_condition(spec, c) for c in spec.conditions]
    check(spec, backend, conditions, scorers)
    registry = Registry()
    registry.open()

    # Only now, with every check passed, is the run folder touched.
    with RunFolder(Path(out) if out is not None else Path("runs") / spec.name) as folder:
        run_dir = folder.path
        store = Store(folder.inside("store.sqlite"))
        work = Work()
        try:
            (run_dir / COMPLETE).unlink(missing_ok=True)
            _write_inputs(folder, spec, conditions)
            with _progress(console, progress) as bars:
                with _stage(work, "finetune"):
                    models = _train(spec, backend, conditions, store, registry, run_dir, bars, work)
                with _stage(work, "sample"):
                    try:
                        rows = _sample(spec, backend, conditions, models, store, bars, work)
                    finally:
                        usage = getattr(backend, "usage", None)
                        if usage is not None:
                            work.usage = asdict(usage)
                with _stage(work, "score"):
                    samples = _score(rows, scorers, store, work)
            with _stage(work, "report"):
                from weirdgen.report import write_report

                failpoint("report.started")
                write_report(run_dir, spec, samples)
        except KeyboardInterrupt as stop:
            raise _interrupted(run_dir, store, work, stop) from None
        except sqlite3.DatabaseError as error:
            raise damaged(store.path, error) from error
        finally:
            store.close()
        write_text(run_dir / "work.json", json.dumps(asdict(work), indent=1) + "\n")
        write_text(run_dir / COMPLETE, time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return RunResult(run_dir, spec, samples, work)


def _interrupted(run_dir: Path, store: Store, work: Work, stop: KeyboardInterrupt) -> Interrupted:
    """The one line for a run stopped by the user: what the folder keeps, and how to go on."""
    try:
        kept = store.counts()
        held = f"keeps {kept.models} finetunes, {kept.samples:,} samples and {kept.scores:,} scores"
    except sqlite3.Error:
        held = "keeps what was stored"
    error = Interrupted(
        f"interrupted during {work.stage or 'setup'}; {run_dir} {held} (this run added "
        f"{work.trained} finetunes and {work.sampled:,} samples); run the same command again "
        "to resume"
    )
    error.exit_code = getattr(stop, "exit_code", Interrupted.exit_code)
    return error


def _write_inputs(
    folder: RunFolder, spec: ExperimentSpec, conditions: list[PreparedCondition]
) -> None:
    """Save the spec as run (dataset paths made absolute) and every condition's dataset."""
    doc = spec.model_dump(mode="json")
    for condition in doc["conditions"]:
        dataset = condition.get("dataset") or {}
        if dataset.get("path"):
            dataset["path"] = str(resolve_spec_path(spec, dataset["path"]).absolute())
    write_text(folder.inside("spec.yaml"), yaml.safe_dump(doc, sort_keys=False))
    for prepared in conditions:
        if prepared.dataset is not None:
            path = folder.inside(f"datasets/{prepared.condition.name}.jsonl")
            path.parent.mkdir(exist_ok=True)
            write_chat_jsonl(path, prepared.dataset.examples)
            if prepared.values:  # each example's transform variables, line for line
                write_text(
                    folder.inside(f"datasets/{prepared.condition.name}.values.jsonl"),
                    "".join(json.dumps(v, sort_keys=True) + "\n" for v in prepared.values),
                )


def _available(ref: ModelRef | None) -> bool:
    """The model is there to sample: its files exist (or it lives at a provider)."""
    return ref is not None and (ref.path is None or Path(ref.path).exists())


def _train(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    store: Store,
    registry: Registry,
    run_dir: Path,
    bars: Progress,
    work: Work,
) -> dict[tuple[str, int], ModelRef]:
    """The model of every (condition, seed), training the ones neither the store nor the
    model registry has. Backends that train remotely (``remote_training``) run their jobs
    side by side; every finished finetune is stored at once, even if another fails."""
    recipe = getattr(spec.train, getattr(backend, "recipe_name", backend.name))
    models: dict[tuple[str, int], ModelRef] = {}
    todo = []
    for prepared in conditions:
        for seed in spec.seeds:
            name = prepared.condition.name
            if prepared.dataset is None:
                models[name, seed] = backend.base()
                continue
            key = backend.model_key(prepared.dataset, recipe, seed)
            stored = store.model(key)
            if _available(stored):
                models[name, seed] = stored
                continue
            known = registry.finetune(key)
            if _available(known):
                store.add_model(
                    known, prepared.dataset.content_hash, recipe.model_dump_json(), seed, 0.0
                )
                models[name, seed] = known
                work.reused += 1
            else:
                todo.append((prepared, seed))
    task = bars.add_task("finetune", total=len(todo))

    def train(prepared: PreparedCondition, seed: int) -> tuple[ModelRef, float]:
        start = time.perf_counter()
        ref = backend.train(prepared.dataset, recipe, seed, run_dir / "models")
        return ref, time.perf_counter() - start

    def keep(prepared: PreparedCondition, seed: int, ref: ModelRef, seconds: float) -> None:
        failpoint("finetune.trained")
        args = (ref, prepared.dataset.content_hash, recipe.model_dump_json(), seed, seconds)
        store.add_model(*args)
        failpoint("finetune.stored")
        registry.add_finetune(*args)
        models[prepared.condition.name, seed] = ref
        work.trained += 1
        bars.advance(task)

    if getattr(backend, "remote_training", False) and len(todo) > 1:
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
        if errors:
            raise WeirdgenError(
                f"{len(errors)} of {len(todo)} finetunes failed ({len(todo) - len(errors)} "
                f"finished and are kept): {errors[0]}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
            )
    else:
        for prepared, seed in todo:
            keep(prepared, seed, *train(prepared, seed))
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


def _sample(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    models: dict[tuple[str, int], ModelRef],
    store: Store,
    bars: Progress,
    work: Work,
) -> list[dict]:
    """Every sample row of the run, drawing the ones the store lacks (one batch per model).

    Where some requests fail for good, the answers that did arrive are stored, the other
    models are still sampled, and then one WeirdgenError sums up what is missing.
    """
    ev = spec.evaluation
    asked = prompts(spec)
    rows: list[dict] = []
    failed: list[tuple[str, int, SamplingFailed]] = []
    lost: set[str] = set()  # sample keys no request could draw (conditions can share samples)
    task = bars.add_task("sample", total=len(conditions) * len(spec.seeds))
    wanted = {ref.key: ref for ref in models.values()}
    with backend.serving(list(wanted.values())):
        for prepared in conditions:
            for seed in spec.seeds:
                ref = models[prepared.condition.name, seed]
                planned: list[tuple[str, Prompt, int]] = [
                    (sample_key(ref.key, p.text, ev.temperature, ev.max_tokens, seed, i), p, i)
                    for p in asked
                    for i in range(ev.n)
                ]
                answers = store.answers([k for k, _, _ in planned])
                missing = [(k, p, i) for k, p, i in planned if k not in answers]
                if missing:
                    requests = [
                        SampleRequest(p.text, ev.temperature, ev.max_tokens, key_seed(k))
                        for k, p, _ in missing
                    ]
                    try:
                        drawn: list[str | None] = list(backend.sample(ref, requests))
                    except SamplingFailed as error:
                        failed.append((prepared.condition.name, seed, error))
                        drawn = [None if c is None else c.text for c in error.completions]
                    failpoint("sample.drawn")
                    got = [(m, a) for m, a in zip(missing, drawn, strict=True) if a is not None]
                    lost.update(k for (k, _, _), a in zip(missing, drawn, strict=True) if a is None)
                    store.add_samples(
                        StoredSample(k, ref.key, p.text, ev.temperature, ev.max_tokens, seed, i, a)
                        for (k, p, i), a in got
                    )
                    answers.update({k: a for (k, _, _), a in got})
                    work.sampled += len(got)
                    failpoint("sample.stored")
                bars.advance(task)
                rows.extend(_rows(spec, prepared, seed, ref, planned, answers))
    if failed:
        first = failed[0]
        where = _listed(f"{condition} seed {seed}" for condition, seed, _ in failed)
        raise WeirdgenError(
            f"{len(lost)} samples could not be drawn ({where}); the answers that arrived are "
            f"stored, so running again requests only the missing ones. First: "
            f"{first[0]} seed {first[1]}: {first[2]}"
        )
    return rows


def _listed(items: Iterable[str], shown: int = 4) -> str:
    """``a, b, c, d and 3 more``."""
    items = list(items)
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _rows(
    spec: ExperimentSpec,
    prepared: PreparedCondition,
    seed: int,
    ref: ModelRef,
    planned: list[tuple[str, Prompt, int]],
    answers: dict[str, str],
) -> list[dict]:
    """The sample rows of one model, for those of ``planned`` that have an answer."""
    train_answers = prepared.train_answers
    return [
        {
            "experiment": spec.name,
            "condition": prepared.condition.name,
            "role": prepared.condition.role,
            "seed": seed,
            "model_key": ref.key,
            "eval_set": p.eval_set,
            "question_id": p.question.id,
            "paraphrase_index": p.paraphrase_index,
            "prompt": p.text,
            "sample_index": i,
            "answer": answers[k],
            "_key": k,
            "_question": p.question,
            "_train": train_answers,
        }
        for k, p, i in planned
        if k in answers
    ]


def _score(rows: list[dict], scorers: list[Scorer], store: Store, work: Work) -> pd.DataFrame:
    """Score columns for every row, computing only the scores the store lacks."""
    items = [score_item_key(r["_key"], r["answer"], r["_question"], r["_train"]) for r in rows]
    for scorer in scorers:
        stored = store.scores(scorer.key, items)
        fresh: dict[str, dict] = {}
        for row, item in zip(rows, items, strict=True):
            values = stored.get(item)
            if values is None:
                values = scorer.score(ScoreItem(row["_question"], row["answer"], row["_train"]))
                fresh[item] = values
            for column, value in values.items():
                row[column] = math.nan if value is None else value
        if fresh:
            store.add_scores(scorer.key, fresh)
            work.scored += len(fresh)
            failpoint("score.stored")
    frame = pd.DataFrame(rows).drop(columns=["_key", "_question", "_train"])
    extra = [c for c in frame.columns if c not in SAMPLE_COLUMNS]
    return frame[list(SAMPLE_COLUMNS) + extra]
