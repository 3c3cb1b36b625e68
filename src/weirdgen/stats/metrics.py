"""Per-seed and per-question metric values from the tidy samples table.

A metric is the mean of one score column over one evaluation set. Per seed (one finetuned
model, the unit of replication) the score is averaged within each question first and then
across questions, so every question weighs the same however many valid answers it got.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MetricSpec

SEED_KEYS: tuple[str, ...] = ("condition", "role", "seed")
"""Columns that identify one finetuned model in every stats table."""

QUESTION_METRIC_COLUMNS: tuple[str, ...] = (*SEED_KEYS, "metric", "question_id", "value")
SEED_METRIC_COLUMNS: tuple[str, ...] = (*SEED_KEYS, "metric", "value")


def question_metrics(samples: pd.DataFrame, metrics: list[MetricSpec]) -> pd.DataFrame:
    """Each metric per (condition, role, seed, question): the mean score over that question.

    Rows outside ``metric.eval_set`` are ignored; with ``metric.among`` set, only rows where
    that boolean column is true count. NaN scores are skipped, and a question with no
    counting rows keeps its row with value NaN (it is not dropped).

    Args:
        samples: The tidy samples table (see ``weirdgen.run.schema``) with the score columns.
        metrics: The metrics to compute, usually ``spec.metrics``.

    Returns:
        Columns condition, role, seed, metric, question_id, value; one row per metric, seed
        and question, in the order they first appear in ``samples``.

    Raises:
        WeirdgenError: A metric names a column the table lacks, or an eval set with no rows.
    """
    frames = [_question_values(samples, metric) for metric in metrics]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in QUESTION_METRIC_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def seed_metrics(samples: pd.DataFrame, metrics: list[MetricSpec]) -> pd.DataFrame:
    """Each metric per (condition, role, seed): the mean over questions of the question means.

    Questions whose mean is NaN (no counting rows) are skipped; a seed where every question
    is NaN gets value NaN. See :func:`question_metrics` for the per-question step.

    Returns:
        Columns condition, role, seed, metric, value; one row per metric and seed.
    """
    per_question = question_metrics(samples, metrics)
    keys = [*SEED_KEYS, "metric"]
    table = per_question.groupby(keys, sort=False, as_index=False)["value"].mean()
    return table.loc[:, list(SEED_METRIC_COLUMNS)]


def _question_values(samples: pd.DataFrame, metric: MetricSpec) -> pd.DataFrame:
    columns = [metric.score] + ([metric.among] if metric.among else [])
    missing = [c for c in ("eval_set", "question_id", *SEED_KEYS, *columns) if c not in samples]
    if missing:
        raise WeirdgenError(
            f"metric {metric.name!r} needs column(s) {missing} that the samples table lacks "
            f"(it has {list(samples.columns)}); add the scorer that writes them to the spec's "
            "scorers, or fix the metric's score/among field"
        )
    rows = samples.loc[samples["eval_set"] == metric.eval_set]
    if rows.empty:
        present = sorted(samples["eval_set"].dropna().unique().tolist())
        raise WeirdgenError(
            f"metric {metric.name!r}: no samples with eval_set {metric.eval_set!r} "
            f"(eval sets present: {present}); sample that set or fix the metric's eval_set"
        )
    score = rows[metric.score].to_numpy(dtype=float, na_value=np.nan)
    if metric.among:
        keep = rows[metric.among].eq(True).to_numpy(dtype=bool, na_value=False)
        score = np.where(keep, score, np.nan)
    keyed = rows.loc[:, [*SEED_KEYS, "question_id"]].assign(value=score)
    table = keyed.groupby([*SEED_KEYS, "question_id"], sort=False, as_index=False)["value"].mean()
    table.insert(len(SEED_KEYS), "metric", metric.name)
    return table.loc[:, list(QUESTION_METRIC_COLUMNS)]
