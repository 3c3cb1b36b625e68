"""The orchestrator: compute what the store lacks, in pipeline order, then report.

conditions x seeds -> finetune -> sample (questions x paraphrases x n) -> score -> stats ->
report. Every result is stored under its content key as soon as it exists, so a rerun skips
what is done and a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from weirdgen._atomic import write_text
from weirdgen._failpoints import failpoint
from weirdgen.backends import Backend, get_backend
from weirdgen.data import write_chat_jsonl
from weirdgen.errors import Interrupted, WeirdgenError
from weirdgen.run._work import Work, stage
from weirdgen.run.duplicates import warn_duplicates
from weirdgen.run.executors import ExecutorChoice, check_executor, open_executor, parse_executor
from weirdgen.run.folder import RunFolder, check_not_a_suite, check_run_folder
from weirdgen.run.plan import (
    PreparedCondition,
    Prompt,
    build_scorers,
    check,
    load_condition,
    prompts,
    with_overrides,
)
from weirdgen.run.sample import sample_models
from weirdgen.run.score import score_rows, tidy_metadata
from weirdgen.run.train import model_variants, train_models
from weirdgen.score import Scorer, ScoringContext
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store import Store
from weirdgen.store.judgments import JudgmentCache
from weirdgen.store.registry import Registry
from weirdgen.store.sqlite import damaged

COMPLETE = "COMPLETE"


@dataclass
class RunResult:
    """A finished run: its folder, spec, tidy samples and what it computed."""

    run_dir: Path
    spec: ExperimentSpec
    samples: pd.DataFrame
    work: Work


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


@dataclass
class PreparedRun:
    """A run whose every check has passed and that has written nothing yet."""

    spec: ExperimentSpec
    out: Path
    backend: Backend
    scorers: list[Scorer]
    conditions: list[PreparedCondition]
    asked: list[Prompt]
    executor: ExecutorChoice = ExecutorChoice("local")


def run_experiment(
    spec: ExperimentSpec,
    out: Path | None = None,
    n: int | None = None,
    model: str | None = None,
    console: Console | None = None,
    seeds: int | list[int] | None = None,
    progress: bool = True,
    backend: Backend | None = None,
    judge: str | None = None,
    executor: str | None = None,
) -> RunResult:
    """Run ``spec`` into ``out`` (default ``runs/<name>``), reusing whatever is stored there.

    Finetunes are also looked up in the model registry (:mod:`weirdgen.store.registry`), so
    one another run already made is reused, not trained again.

    Args:
        n: samples per paraphrase, overriding the spec; raising it keeps the old samples.
        seeds: the seeds to run (a count N means 0..N-1), overriding the spec's.
        model: ``provider/name`` overriding the spec's model.
        judge: ``provider/name`` replacing the model of every LLM judge of the spec.
        backend: a backend object to use instead of the one ``model`` names (for backends
            configured in Python, e.g. a vLLM launcher with its own command).
        executor: where finetunes, sampling and judge calls run (``local``, ``ray``,
            ``ray:ADDRESS``), overriding the spec's ``executor``; see
            :mod:`weirdgen.run.executors`.

    Raises:
        WeirdgenError: bad input (before anything is written), a failed finetune, or
            samples that could not be drawn (the answers that did arrive are stored first,
            so a rerun requests only the missing ones).
    """
    console = console or Console(stderr=True)
    prepared = prepare_run(spec, out, n, model, console, seeds, backend, judge, executor)
    return execute(prepared, console, progress)


def prepare_run(
    spec: ExperimentSpec,
    out: Path | None = None,
    n: int | None = None,
    model: str | None = None,
    console: Console | None = None,
    seeds: int | list[int] | None = None,
    backend: Backend | None = None,
    judge: str | None = None,
    executor: str | None = None,
) -> PreparedRun:
    """Every check of :func:`run_experiment` (spec, datasets, prompts, every model the run
    will call, judges included, the executor and the run folder), writing nothing."""
    console = console or Console(stderr=True)
    choice = _executor_choice(executor if executor is not None else spec.executor)
    spec = with_overrides(spec, n, model, seeds, judge)
    given = backend is not None
    backend = backend if backend is not None else get_backend(spec.model)
    check_executor(choice, backend, given)
    scorers = build_scorers(spec)
    conditions = [load_condition(spec, c, backend) for c in spec.conditions]
    warn_duplicates(conditions, _warner(console))  # a repeated example weighs more
    asked = prompts(spec)  # vary: templates expanded once, for the checks, sampling and table
    check(spec, backend, conditions, scorers, asked)
    out = Path(out) if out is not None else Path("runs") / spec.name
    check_not_a_suite(out)
    check_run_folder(out)
    return PreparedRun(spec, out, backend, scorers, conditions, asked, choice)


def execute(prepared: PreparedRun, console: Console, progress: bool = True) -> RunResult:
    """Run what :func:`prepare_run` checked: the first write to the run folder is here."""
    spec, backend, scorers = prepared.spec, prepared.backend, prepared.scorers
    conditions, asked = prepared.conditions, prepared.asked
    registry = Registry()
    registry.open()

    with RunFolder(prepared.out) as folder:
        run_dir = folder.path
        store = Store(folder.inside("store.sqlite"), warn=_warner(console))
        work = Work()
        executor = None
        try:
            executor = open_executor(prepared.executor)
            folder.inside(COMPLETE).unlink(missing_ok=True)
            _write_inputs(folder, spec, conditions)
            with _progress(console, progress) as bars:
                with stage(work, "finetune"):
                    models = train_models(
                        spec, backend, conditions, store, registry, run_dir, bars, work, executor
                    )
                    variants = model_variants(spec, backend, conditions, models, store, run_dir)
                with stage(work, "sample"):
                    try:
                        rows = sample_models(
                            spec, backend, conditions, variants, asked, store, bars, work, executor
                        )
                    finally:
                        if backend.usage is not None:
                            work.usage = asdict(backend.usage)
                with stage(work, "score"):
                    context = ScoringContext(warn=_warner(console), cache=JudgmentCache(registry))
                    try:
                        samples = score_rows(rows, scorers, store, work, context, bars, executor)
                    finally:
                        work.judged = {k: asdict(v) for k, v in context.calls.items()}
                    keys = list(dict.fromkeys(k for p in asked for k in p.question.metadata))
                    samples = tidy_metadata(samples, keys)
            with stage(work, "report"):
                from weirdgen.report import write_report

                failpoint("report.started")
                write_report(run_dir, spec, samples)
        except KeyboardInterrupt as stop:
            raise _interrupted(run_dir, store, work, stop) from None
        except sqlite3.DatabaseError as error:
            raise damaged(store.path, error) from error
        finally:
            if executor is not None:
                executor.close()
            store.close()
        write_text(folder.inside("work.json"), json.dumps(asdict(work), indent=1) + "\n")
        write_text(folder.inside(COMPLETE), time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return RunResult(run_dir, spec, samples, work)


def _executor_choice(text: str | None) -> ExecutorChoice:
    try:
        return parse_executor(text or "local")
    except ValueError as error:
        raise WeirdgenError(f"executor {error}") from None


def _warner(console: Console):
    def warn(line: str) -> None:
        console.print(f"warning: {line}", markup=False, highlight=False)

    return warn


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
    """Save the spec as run (dataset and direction paths made absolute) and every
    condition's dataset."""
    doc = spec.model_dump(mode="json")
    for condition in doc["conditions"]:
        dataset = condition.get("dataset") or {}
        if dataset.get("path"):
            dataset["path"] = str(resolve_spec_path(spec, dataset["path"]).absolute())
        intervention = condition.pop("intervention", None)
        if intervention is not None:  # written only where there is one, as specs were before
            direction = resolve_spec_path(spec, intervention["direction"]).absolute()
            condition["intervention"] = {**intervention, "direction": str(direction)}
    write_text(folder.inside("spec.yaml"), yaml.safe_dump(doc, sort_keys=False))
    for prepared in conditions:
        if prepared.dataset is not None:
            path = folder.inside(f"datasets/{prepared.condition.name}.jsonl")
            path.parent.mkdir(exist_ok=True)
            write_chat_jsonl(path, prepared.dataset.examples)
            for part, examples in _defence_data(prepared).items():  # what a defence changed
                place = folder.inside(f"datasets/{prepared.condition.name}.{part}.jsonl")
                if examples:
                    write_chat_jsonl(place, examples)
                else:  # a filter that dropped nothing: an empty file says so
                    write_text(place, "")
            if prepared.values:  # each example's transform variables, line for line
                write_text(
                    folder.inside(f"datasets/{prepared.condition.name}.values.jsonl"),
                    "".join(json.dumps(v, sort_keys=True) + "\n" for v in prepared.values),
                )


def _defence_data(prepared: PreparedCondition) -> dict[str, list]:
    """The examples a defence kept out of or added to a condition's finetuning, by file part:
    ``dropped`` (a filter's), ``held_out`` (early stopping's), ``realign`` (the second
    stage's)."""
    parts: dict[str, list] = {}
    if prepared.condition.filtering is not None:
        parts["dropped"] = [d.example for d in prepared.dropped]
    if prepared.held_out is not None:
        parts["held_out"] = list(prepared.held_out.examples)
    if prepared.realign is not None:
        parts["realign"] = list(prepared.realign.examples)
    return parts
