"""``weirdgen import``: Inspect logs of weirdgen's tasks into a run folder's store and report.

The answers go into the run folder's store under the content keys a run gives them (so a
``weirdgen run`` of the same spec into that folder finds them and draws nothing again), the
score values the logs hold are stored under their scorers' keys, anything missing is scored
as a run scores it, and the report is written from those rows: seed-level intervals,
contrasts, figures. Every log is read and checked before the folder is touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import Progress

from weirdgen._atomic import atomic_path, write_text
from weirdgen.errors import WeirdgenError
from weirdgen.inspect._require import require_inspect
from weirdgen.inspect.experiment import register, spec_document
from weirdgen.inspect.logs import LogRows, log_rows, read_log, spec_of
from weirdgen.run._work import Work
from weirdgen.run.folder import RunFolder, check_not_a_suite, check_run_folder
from weirdgen.run.orchestrator import COMPLETE
from weirdgen.run.plan import ScoreKeys, with_overrides
from weirdgen.run.score import score_rows, tidy_metadata
from weirdgen.score import Scorer, ScoringContext, build_scorer
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store import Store, StoredSample
from weirdgen.store.judgments import JudgmentCache
from weirdgen.store.registry import Registry


@dataclass(frozen=True)
class Imported:
    """What an import wrote: the run folder, its spec and samples table, and counts."""

    run_dir: Path
    spec: ExperimentSpec
    samples: pd.DataFrame
    logs: int
    answers: int
    failed: int
    """Samples of the logs that ended in an error, left out."""
    work: Work
    missing: list[str]
    """Conditions with no answers yet: the report waits for their logs (none: written)."""


def import_logs(
    logs: Sequence[Path],
    into: Path,
    judge: str | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> Imported:
    """Import Inspect logs of one weirdgen experiment into the run folder ``into``.

    ``into`` may be a new or empty folder, or a run folder of the same experiment: rows
    of the (condition, seed) pairs the logs hold replace that folder's; its other rows stay.
    The report is written once every condition of the spec has answers; until then the
    answers are kept (store and samples.parquet) for the next import into the folder.

    Args:
        judge: ``provider/name`` replacing every LLM judge's model, as ``weirdgen run
            --judge`` does (the logs' judgments count where they were made by that model).

    Raises:
        WeirdgenError: a log that is missing, not Inspect's, not of a weirdgen task, not
            finished, of another experiment than the others, or ``into`` not a run folder
            of this experiment; nothing is written then.
    """
    require_inspect()
    console = console or Console(stderr=True)
    if not logs:
        raise WeirdgenError("give at least one .eval log to import")
    read = [(Path(p), *read_log(Path(p))) for p in logs]
    first_path, _, first_info = read[0]
    spec = with_overrides(spec_of(first_path, first_info), judge=judge)
    known = register(spec)
    parts: list[LogRows] = []
    for path, log, info in read:
        if _comparable(info["spec"]) != _comparable(first_info["spec"]):
            raise WeirdgenError(
                f"{path}: a log of experiment {info['spec'].get('name')!r} as evaluated there, "
                f"but {first_path} is of {first_info['spec'].get('name')!r} (or of another "
                "version of its spec); import each experiment into its own run folder"
            )
        parts.append(log_rows(path, log, info, known))
    _check_one_log_per_model(parts)
    into = Path(into)
    check_not_a_suite(into, "--into")
    check_run_folder(into, "--into")
    kept = _kept_rows(into, spec, {m for part in parts for m in part.models})
    scorers = _scorers(spec)
    rows = [row for part in parts for row in part.rows]
    with RunFolder(into, flag="--into") as folder:
        store = Store(folder.inside("store.sqlite"), warn=lambda line: console.print(line))
        work = Work()
        try:
            _store_answers(store, parts)
            _store_scores(store, scorers, parts)
            context = ScoringContext(
                warn=lambda line: console.print(f"warning: {line}"),
                cache=JudgmentCache(Registry()),
            )
            with Progress(console=console, disable=not progress) as bars:
                samples = score_rows(rows, scorers, store, work, context, bars)
            asked = known.prompts.values()
            keys = list(dict.fromkeys(k for p in asked for k in p.question.metadata))
            samples = tidy_metadata(_with_kept(samples, kept), keys)
        finally:
            store.close()
        write_text(folder.inside("spec.yaml"), yaml.safe_dump(spec_document(spec), sort_keys=False))
        missing = [c.name for c in spec.conditions if c.name not in set(samples["condition"])]
        folder.inside(COMPLETE).unlink(missing_ok=True)
        if missing:  # the answers are kept for the next import; a report needs every condition
            with atomic_path(folder.inside("samples.parquet")) as temporary:
                samples.to_parquet(temporary, index=False)
        else:
            from weirdgen.report import write_report

            write_report(folder.path, spec, samples)
            write_text(folder.inside(COMPLETE), time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    failed = sum(p.failed for p in parts)
    return Imported(folder.path, spec, samples, len(parts), len(rows), failed, work, missing)


def _comparable(document: dict) -> str:
    """A spec document without what may differ between logs of one experiment (n)."""
    doc = json.loads(json.dumps(document))
    evaluation = doc.get("evaluation", {})
    evaluation.pop("n", None)
    for s in evaluation.get("sets", []):
        s.pop("n", None)
        for q in s.get("questions", []):
            q.pop("samples_per_paraphrase", None)
    return json.dumps(doc, sort_keys=True)


def _check_one_log_per_model(parts: list[LogRows]) -> None:
    seen: dict[tuple[str, int], Path] = {}
    for part in parts:
        for model in sorted(part.models):
            if model in seen:
                raise WeirdgenError(
                    f"{part.path} and {seen[model]} both hold condition {model[0]} seed "
                    f"{model[1]}; import one of them"
                )
            seen[model] = part.path


def _kept_rows(into: Path, spec: ExperimentSpec, imported: set[tuple[str, int]]) -> pd.DataFrame:
    """The rows of a run folder's earlier samples table that this import keeps: those of
    the (condition, seed) pairs it does not bring. A folder of another experiment is refused."""
    written = into / "spec.yaml"
    if not written.is_file():
        return pd.DataFrame()
    from weirdgen.spec import load_spec

    theirs = load_spec(written)
    if _comparable(spec_document(theirs)) != _comparable(spec_document(spec)):
        raise WeirdgenError(
            f"--into {into} holds a run of experiment {theirs.name!r} (or of another version "
            f"of {spec.name}'s spec); import into a new folder"
        )
    table = into / "samples.parquet"
    if not table.is_file():
        return pd.DataFrame()
    earlier = pd.read_parquet(table)
    pairs = list(zip(earlier["condition"], earlier["seed"], strict=True))
    return earlier[[(c, int(s)) not in imported for c, s in pairs]]


def _with_kept(samples: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    if kept.empty:
        return samples
    return pd.concat([kept, samples], ignore_index=True)[list(dict.fromkeys([*kept, *samples]))]


def _scorers(spec: ExperimentSpec) -> list[Scorer]:
    """The spec's scorers; a judge's model is reached only if a log lacks its values."""
    where = str(spec.source or spec.name)
    spec_dir = spec.source.parent if spec.source else None
    built = []
    for i, entry in enumerate(spec.scorers):
        try:
            built.append(build_scorer(entry, spec_dir))
        except WeirdgenError as error:
            raise WeirdgenError(f"{where}: scorers[{i}] ({entry.name}): {error}") from None
    return built


def _store_answers(store: Store, parts: list[LogRows]) -> None:
    """Every answer under the content key a run gives it."""
    store.add_samples(
        StoredSample(
            row["_key"],
            row["model_key"],
            prompt.text,
            prompt.temperature,
            prompt.max_tokens,
            row["seed"],
            row["sample_index"],
            row["answer"],
            row["finish_reason"],
        )
        for part in parts
        for row, prompt in zip(part.rows, part.prompts, strict=True)
    )


def _store_scores(store: Store, scorers: list[Scorer], parts: list[LogRows]) -> None:
    """The logs' score values, under each scorer's key where the log's scorer had that key
    (the same scorer, judge model and prompt); the others are scored afresh."""
    keys = ScoreKeys()
    for scorer in scorers:
        found: dict[str, dict] = {}
        for part in parts:
            for row, raw in zip(part.rows, part.scores, strict=True):
                mine = raw.get(scorer.args.name)
                if isinstance(mine, dict) and mine.get("key") == scorer.key:
                    item = keys.key(row["_key"], row["answer"], row["_question"], row["_train"])
                    found[item] = mine["values"]
        if found:
            store.add_scores(scorer.key, found)
