"""The orchestrator: compute what the store lacks, in pipeline order, then report.

conditions x seeds -> finetune -> sample (questions x paraphrases x n) -> score -> stats ->
report. Every result is stored under its content key as soon as it exists, so a rerun skips
what is done and a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from weirdgen.backends import Backend, ModelRef, SampleRequest, get_backend
from weirdgen.backends.protocol import key_seed
from weirdgen.data import write_chat_jsonl
from weirdgen.run.plan import PreparedCondition, Prompt, check, load_condition, prompts, sample_key
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.score import ScoreItem, Scorer, build_scorer
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store import Store, StoredSample

COMPLETE = "COMPLETE"


@dataclass
class Work:
    """What a run computed (as opposed to found in the store), and how long each stage took."""

    trained: int = 0
    sampled: int = 0
    scored: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


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
    progress: bool = True,
) -> RunResult:
    """Run ``spec`` into ``out`` (default ``runs/<name>``), reusing whatever is stored there.

    Args:
        n: samples per paraphrase, overriding the spec; raising it keeps the old samples.
        model: ``provider/name`` overriding the spec's model.
    """
    console = console or Console(stderr=True)
    if n is not None:
        spec = spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update={"n": n})})
    if model is not None:
        spec = spec.model_copy(update={"model": model})
    backend = get_backend(spec.model)
    scorers = [build_scorer(s) for s in spec.scorers]
    conditions = [load_condition(spec, c) for c in spec.conditions]
    check(spec, backend, conditions, scorers)

    run_dir = Path(out) if out is not None else Path("runs") / spec.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / COMPLETE).unlink(missing_ok=True)
    _write_inputs(run_dir, spec, conditions)
    store = Store(run_dir / "store.sqlite")
    work = Work()
    try:
        with _progress(console, progress) as bars:
            with _stage(work, "finetune"):
                models = _train(spec, backend, conditions, store, run_dir, bars, work)
            with _stage(work, "sample"):
                rows = _sample(spec, backend, conditions, models, store, bars, work)
            with _stage(work, "score"):
                samples = _score(rows, scorers, store, work)
        with _stage(work, "report"):
            from weirdgen.report import write_report

            write_report(run_dir, spec, samples)
    finally:
        store.close()
    (run_dir / "work.json").write_text(json.dumps(asdict(work), indent=1) + "\n")
    (run_dir / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return RunResult(run_dir, spec, samples, work)


def _write_inputs(run_dir: Path, spec: ExperimentSpec, conditions: list[PreparedCondition]) -> None:
    """Save the spec as run (dataset paths made absolute) and every condition's dataset."""
    doc = spec.model_dump(mode="json")
    for condition in doc["conditions"]:
        dataset = condition.get("dataset") or {}
        if dataset.get("path"):
            dataset["path"] = str(resolve_spec_path(spec, dataset["path"]).absolute())
    tmp = run_dir / ".spec.yaml.tmp"
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, run_dir / "spec.yaml")
    for prepared in conditions:
        if prepared.dataset is not None:
            path = run_dir / "datasets" / f"{prepared.condition.name}.jsonl"
            path.parent.mkdir(exist_ok=True)
            write_chat_jsonl(path, prepared.dataset.examples)


def _train(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    store: Store,
    run_dir: Path,
    bars: Progress,
    work: Work,
) -> dict[tuple[str, int], ModelRef]:
    """The model of every (condition, seed), training the ones the store lacks."""
    recipe = getattr(spec.train, backend.name)
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
            if stored is not None and (stored.path is None or Path(stored.path).exists()):
                models[name, seed] = stored
            else:
                todo.append((prepared, seed))
    task = bars.add_task("finetune", total=len(todo))
    for prepared, seed in todo:
        start = time.perf_counter()
        ref = backend.train(prepared.dataset, recipe, seed, run_dir / "models")
        store.add_model(
            ref,
            prepared.dataset.content_hash,
            recipe.model_dump_json(),
            seed,
            time.perf_counter() - start,
        )
        models[prepared.condition.name, seed] = ref
        work.trained += 1
        bars.advance(task)
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
    """Every sample row of the run, drawing the ones the store lacks (one batch per model)."""
    ev = spec.evaluation
    asked = prompts(spec)
    rows: list[dict] = []
    task = bars.add_task("sample", total=len(conditions) * len(spec.seeds))
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
                drawn = backend.sample(ref, requests)
                store.add_samples(
                    StoredSample(k, ref.key, p.text, ev.temperature, ev.max_tokens, seed, i, a)
                    for (k, p, i), a in zip(missing, drawn, strict=True)
                )
                answers.update({k: a for (k, _, _), a in zip(missing, drawn, strict=True)})
                work.sampled += len(missing)
            for k, p, i in planned:
                rows.append(
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
                        "_train": prepared.train_answers,
                    }
                )
            bars.advance(task)
    return rows


def _score(rows: list[dict], scorers: list[Scorer], store: Store, work: Work) -> pd.DataFrame:
    """Score columns for every row, computing only the scores the store lacks."""
    for scorer in scorers:
        stored = store.scores(scorer.key, [r["_key"] for r in rows])
        fresh: dict[str, dict] = {}
        for row in rows:
            values = stored.get(row["_key"])
            if values is None:
                values = scorer.score(ScoreItem(row["_question"], row["answer"], row["_train"]))
                fresh[row["_key"]] = values
            for column, value in values.items():
                row[column] = math.nan if value is None else value
        if fresh:
            store.add_scores(scorer.key, fresh)
            work.scored += len(fresh)
    frame = pd.DataFrame(rows).drop(columns=["_key", "_question", "_train"])
    extra = [c for c in frame.columns if c not in SAMPLE_COLUMNS]
    return frame[list(SAMPLE_COLUMNS) + extra]
