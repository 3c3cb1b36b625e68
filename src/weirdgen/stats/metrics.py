"""Per-seed and per-question metric values from the tidy samples table.

A metric is the mean of one score column over one evaluation set. Per seed (one finetuned
model, the unit of replication) the score is averaged within each question first and then
across questions, so every question weighs the same however many valid answers it got.

A metric with ``by`` keys (question metadata, e.g. ``year``) is computed this way for each
value of those keys. A metric with ``at_least`` is, per seed, 1 where that mean reaches the
threshold and 0 where it does not, so its mean over seeds is the share of seeds that do.
Tables stay tidy: each key is a column, placed after ``metric``, and the
columns are the union of every metric's keys (see :func:`metric_keys`); a metric leaves the
columns of keys it is not computed by empty (NaN).

A metric with a ``coherence`` filter leaves out answers whose coherence score is below the
filter's ``min`` or missing, before any averaging. When any metric has one, every table gets
the columns n_answers, n_incoherent, n_unrated and excluded after ``value`` (see
``weirdgen.stats._coherence``), empty for the metrics without a filter; without one the tables
are as before.

Only the models at the end of finetuning count: when the table has a ``final`` column, rows
where it is False (intermediate checkpoints) are left out here and go to
:func:`weirdgen.stats.step_metrics` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MetricSpec
from weirdgen.spec.questions import same_value
from weirdgen.stats._checks import check_key_names
from weirdgen.stats._coherence import (
    COHERENCE_COLUMNS,
    answer_counts,
    mean_and_counts,
    metric_answers,
    without_counts,
)

SEED_KEYS: tuple[str, ...] = ("condition", "role", "seed")
"""Columns that identify one finetuned model in every stats table."""


def metric_keys(metrics: Sequence[MetricSpec]) -> list[str]:
    """Every ``by`` key of ``metrics``, in order of first appearance: the key columns of
    :func:`seed_metrics` and :func:`question_metrics`, and the ``by`` to pass to
    :func:`weirdgen.stats.summarize` and :func:`weirdgen.stats.contrasts`."""
    return list(dict.fromkeys(key for metric in metrics for key in metric.by))


def rate_metrics(samples: pd.DataFrame, metrics: Sequence[MetricSpec]) -> list[str]:
    """The metrics that are rates: every score they average lies in [0, 1] (flags, 0/1
    labels, probabilities), so their mean does too and its interval may be clipped there.
    Pass them as ``rates`` to :func:`weirdgen.stats.summarize` and
    :func:`weirdgen.stats.contrasts`."""
    names = []
    for metric in metrics:
        if metric.at_least is not None:  # 0 or 1 per seed
            names.append(metric.name)
            continue
        if metric.score not in samples or "eval_set" not in samples:
            continue
        rows = metric_rows(samples, metric)[metric.score]
        scores = rows.to_numpy(dtype=float, na_value=np.nan)
        scores = scores[~np.isnan(scores)]
        if scores.size and ((scores >= 0) & (scores <= 1)).all():
            names.append(metric.name)
    return names


def final_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows answered by the models at the end of finetuning (``final`` True), or every
    row when the table has no ``final`` column (a run without intermediate checkpoints)."""
    if "final" not in samples:
        return samples
    return samples.loc[samples["final"].eq(True).to_numpy(dtype=bool, na_value=False)]


def question_metrics(samples: pd.DataFrame, metrics: Sequence[MetricSpec]) -> pd.DataFrame:
    """Each metric per (condition, role, seed, key values, question): its mean score.

    Rows outside ``metric.eval_set`` are ignored; with ``metric.among`` set, only rows where
    that boolean column is true count; with ``metric.coherence`` set, rows whose coherence
    score is below its ``min`` or NaN do not count either; rows of intermediate checkpoints are
    ignored (see :func:`final_samples`); for a metric with ``by`` keys, rows without a value
    for one of its keys do not count. NaN scores are skipped, and a question with no counting
    rows keeps its row with value NaN (it is not dropped).

    Args:
        samples: The tidy samples table (see ``weirdgen.run.schema``) with the score columns.
        metrics: The metrics to compute, usually ``spec.metrics``.

    Returns:
        Columns condition, role, seed, metric, *metric_keys(metrics), question_id, value; one
        row per metric, seed, key value and question, in the order they first appear. When a
        metric has a coherence filter, also n_answers, n_incoherent, n_unrated and excluded:
        the answers the metric counts before the filter, those it leaves out, and the share
        left out (empty for metrics without a filter).

    Raises:
        WeirdgenError: A metric names a column the table lacks, or an eval set with no rows.
    """
    samples = final_samples(samples)
    keys = metric_keys(metrics)
    frames = [
        _question_values(samples, metric, list(metric.by)).pipe(_with_keys, keys)
        for metric in metrics
    ]
    return _concat(frames, [*SEED_KEYS, "metric", *keys, "question_id", "value"], metrics)


def seed_metrics(samples: pd.DataFrame, metrics: Sequence[MetricSpec]) -> pd.DataFrame:
    """Each metric per (condition, role, seed, key values): the mean of its question means.

    Questions whose mean is NaN (no counting rows) are skipped; a seed where every question
    is NaN gets value NaN. See :func:`question_metrics` for the per-question step.

    Returns:
        Columns condition, role, seed, metric, *metric_keys(metrics), value; one row per
        metric, seed and value of the metric's keys. With a coherence filter on any metric,
        also the seed's n_answers, n_incoherent, n_unrated and excluded share (all its
        questions' answers pooled), as in :func:`question_metrics`.
    """
    samples = final_samples(samples)
    keys = metric_keys(metrics)
    frames = [
        _seed_values(samples, metric, list(metric.by)).pipe(_with_keys, keys) for metric in metrics
    ]
    return _concat(frames, [*SEED_KEYS, "metric", *keys, "value"], metrics)


def step_metrics(samples: pd.DataFrame, metrics: Sequence[MetricSpec]) -> pd.DataFrame:
    """Each metric per (condition, role, seed, key values, step), over every checkpoint.

    The training curve of a metric: computed as in :func:`seed_metrics`, separately for each
    training step of each seed (intermediate checkpoints and the final model alike; the base
    model is step 0).

    Returns:
        Columns condition, role, seed, metric, *metric_keys(metrics), step, value (and the
        coherence columns of :func:`seed_metrics`).

    Raises:
        WeirdgenError: The table has no ``step`` column, or as :func:`question_metrics`.
    """
    if "step" not in samples:
        raise WeirdgenError(
            f"the samples table has no 'step' column (it has {list(samples.columns)}); "
            "training curves need the checkpoint's step in every row"
        )
    keys = metric_keys(metrics)
    frames = [
        _seed_values(samples, metric, [*metric.by, "step"]).pipe(_with_keys, [*keys, "step"])
        for metric in metrics
    ]
    return _concat(frames, [*SEED_KEYS, "metric", *keys, "step", "value"], metrics)


def _seed_values(samples: pd.DataFrame, metric: MetricSpec, keys: list[str]) -> pd.DataFrame:
    per_question = _question_values(samples, metric, keys)
    group = [*SEED_KEYS, "metric", *keys]
    grouped = per_question.groupby(group, sort=False, as_index=False)
    table = grouped["value"].mean() if metric.coherence is None else mean_and_counts(grouped)
    if metric.at_least is not None:  # whether the seed reaches it: 1 or 0 (NaN stays NaN)
        value = table["value"].to_numpy(dtype=float)
        table["value"] = np.where(np.isnan(value), np.nan, (value >= metric.at_least) * 1.0)
    return table


def _question_values(samples: pd.DataFrame, metric: MetricSpec, keys: list[str]) -> pd.DataFrame:
    check_key_names(metric.name, metric.by)
    columns = [metric.score] + ([metric.among] if metric.among else [])
    columns += [metric.coherence.score] if metric.coherence else []
    required = ("eval_set", "question_id", *SEED_KEYS, *keys, *columns)
    missing = [c for c in required if c not in samples]
    if missing:
        raise WeirdgenError(
            f"metric {metric.name!r} needs column(s) {missing} that the samples table lacks "
            f"(it has {list(samples.columns)}); add the scorer that writes them to the spec's "
            "scorers, or fix the metric's score/among/coherence/by field"
        )
    rows = metric_rows(samples, metric)
    if rows.empty and (samples["eval_set"] == metric.eval_set).any():
        raise WeirdgenError(
            f"metric {metric.name!r}: no samples of eval set {metric.eval_set!r} have the "
            f"values of its where {metric.where}; sample those questions or fix where"
        )
    if rows.empty:
        present = sorted(samples["eval_set"].dropna().unique().tolist())
        raise WeirdgenError(
            f"metric {metric.name!r}: no samples with eval_set {metric.eval_set!r} "
            f"(eval sets present: {present}); sample that set or fix the metric's eval_set"
        )
    answers = metric_answers(rows, metric)
    score = rows[metric.score].to_numpy(dtype=float, na_value=np.nan)
    score = np.where(answers.kept, score, np.nan)
    group = [*SEED_KEYS, *keys, "question_id"]
    keyed = rows.loc[:, group].assign(value=score)
    if metric.coherence is None:
        table = keyed.groupby(group, sort=False, as_index=False)["value"].mean()
    else:
        keyed = keyed.assign(**answer_counts(answers))
        table = mean_and_counts(keyed.groupby(group, sort=False, as_index=False))
    table.insert(len(SEED_KEYS), "metric", metric.name)
    return table


def metric_rows(samples: pd.DataFrame, metric: MetricSpec) -> pd.DataFrame:
    """The rows a metric reads: its eval set's, and of those the questions its ``where``
    keeps."""
    keep = samples["eval_set"] == metric.eval_set
    for key, values in metric.where.items():
        column = samples[key] if key in samples else pd.Series(np.nan, index=samples.index)
        kept = [v for v in column.dropna().unique() if any(same_value(v, w) for w in values)]
        keep &= column.isin(kept)
    return samples.loc[keep]


def _with_keys(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``table`` with an empty column for each of ``keys`` it lacks, placed after 'metric'."""
    absent = {key: pd.Series(np.nan, index=table.index, dtype=object) for key in keys}
    table = table.assign(**{k: v for k, v in absent.items() if k not in table})
    rest = [c for c in table.columns if c not in (*SEED_KEYS, "metric", *keys)]
    return table.loc[:, [*SEED_KEYS, "metric", *keys, *rest]]


def _concat(
    frames: list[pd.DataFrame], columns: list[str], metrics: Sequence[MetricSpec]
) -> pd.DataFrame:
    """The metrics' frames as one table; with the coherence columns when a metric filters."""
    if any(metric.coherence for metric in metrics):
        columns = [*columns, *COHERENCE_COLUMNS]
        frames = [f if "excluded" in f else without_counts(f) for f in frames]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True).loc[:, columns]
