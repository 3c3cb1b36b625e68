"""Scoring the tidy rows, computing only the scores the store lacks."""

from __future__ import annotations

import math

import pandas as pd

from weirdgen._failpoints import failpoint
from weirdgen.run._work import Work
from weirdgen.run.plan import score_item_key
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.score import ScoreItem, Scorer
from weirdgen.store import Store


def score_rows(rows: list[dict], scorers: list[Scorer], store: Store, work: Work) -> pd.DataFrame:
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
    if "step" in frame:
        frame["step"] = frame["step"].astype("Int64")
    extra = [c for c in frame.columns if c not in SAMPLE_COLUMNS]
    return frame[list(SAMPLE_COLUMNS) + extra]


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
