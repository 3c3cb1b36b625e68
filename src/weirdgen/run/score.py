"""Scoring the tidy rows in batches, computing only the scores the store lacks."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import closing

import pandas as pd
from rich.progress import Progress

from weirdgen._failpoints import failpoint
from weirdgen.errors import WeirdgenError
from weirdgen.run._work import Work
from weirdgen.run.executors import Executor
from weirdgen.run.plan import ScoreKeys
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.run.units import judge_units
from weirdgen.score import ScoreItem, Scorer, ScoringContext
from weirdgen.score.judge.calls import Call, Caller, Sender, Sent
from weirdgen.store import Store

PRIVATE = ["_key", "_question", "_train", "_messages"]


def score_rows(
    rows: list[dict],
    scorers: list[Scorer],
    store: Store,
    work: Work,
    context: ScoringContext | None = None,
    bars: Progress | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Score columns for every row, computing only the scores the store lacks.

    Each scorer gets the rows it has no stored values for, ``batch_size`` at a time; each
    batch is stored as soon as it is scored, so an interrupted run keeps what it judged.
    With an ``executor``, the judge calls the judge cache lacks run as its units (see
    :func:`executor_sender`); the replies, the scores and the cache are written here.
    """
    context = context or ScoringContext()
    if executor is not None:
        context.send = executor_sender(executor)
    keys = ScoreKeys()
    items = [keys.key(r["_key"], r["answer"], r["_question"], r["_train"]) for r in rows]
    for scorer in scorers:
        mine = [i for i, row in enumerate(rows) if scorer.args.scores(row["eval_set"])]
        stored = store.scores(scorer.key, [items[i] for i in mine])
        missing = [i for i in mine if items[i] not in stored]
        task = None
        if bars is not None and missing:
            task = bars.add_task(f"score {scorer.args.name}", total=len(missing))
        for start in range(0, len(missing), scorer.batch_size):
            batch = missing[start : start + scorer.batch_size]
            values = scorer.score_batch([_item(rows[i]) for i in batch], context)
            fresh = {items[i]: v for i, v in zip(batch, values, strict=True) if v is not None}
            stored.update(fresh)
            if fresh:
                store.add_scores(scorer.key, fresh)
                work.scored += len(fresh)
                failpoint("score.stored")
            if task is not None:
                bars.advance(task, len(batch))
        _raise_failures(scorer, context)
        columns = scorer.args.columns()
        for row, item in zip(rows, items, strict=True):
            values = stored.get(item, {})
            for output, column in columns.items():
                value = values.get(output)
                row[column] = math.nan if value is None else value
    frame = pd.DataFrame(rows).drop(columns=[c for c in PRIVATE if c in rows[0]] if rows else [])
    if "step" in frame:
        frame["step"] = frame["step"].astype("Int64")
    extra = [c for c in frame.columns if c not in SAMPLE_COLUMNS]
    return frame[[c for c in SAMPLE_COLUMNS if c in frame] + extra]


def executor_sender(executor: Executor) -> Sender:
    """Where judge calls go with ``executor``: its units, for a judge whose backend it runs
    (the replies of each unit handed to the caller, which caches them, as the unit
    finishes), else this process, as in a local run."""

    def send(caller: Caller, calls: Sequence[Call]) -> Iterator[Sent]:
        if caller.args is None or not executor.judges(caller.backend):
            yield caller.send(calls)
            return
        units = judge_units(caller, calls, executor.slots(caller.args.model))
        with closing(executor.judge(units)) as outcomes:  # closed: what is left is cancelled
            for _, outcome in outcomes:
                if outcome.error is not None:
                    raise WeirdgenError(outcome.error)
                yield outcome.value
                failpoint("judge.stored")  # the caller stored those replies before asking on

    return send


def _raise_failures(scorer: Scorer, context: ScoringContext) -> None:
    """Stop the run when some of a judge's calls failed: what was judged is kept (in the
    run store and the judge cache), and a rerun asks only for the rest."""
    counts = context.calls.get(scorer.args.name)
    if counts is None or not counts.failed:
        return
    reasons = "; ".join(dict.fromkeys(counts.reasons)) or "no reason given"
    then = (
        f"the {counts.made} that answered are kept, so the same command again asks only for "
        "the rest"
        if counts.made
        else "none answered; run the same command again once the judge answers"
    )
    raise WeirdgenError(
        f"{counts.failed} calls of judge {scorer.args.name!r} failed ({reasons}); {then}"
    )


def _item(row: dict) -> ScoreItem:
    return ScoreItem(
        row["_question"], row["answer"], row["_train"], row.get("_messages", ()), row["eval_set"]
    )


def tidy_metadata(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Metadata columns with their values' own type where some rows lack the key: whole
    numbers stay whole (nullable Int64, not float), flags stay flags (nullable boolean)."""
    for key in keys:
        if key not in frame:
            continue
        values = frame[key].dropna().tolist()
        if values and all(isinstance(v, bool) for v in values):
            frame[key] = frame[key].astype("boolean")
        elif values and all(
            isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer()
            for v in values
        ):
            frame[key] = frame[key].astype("Int64")
    return frame
