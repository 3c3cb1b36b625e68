"""Warnings for metrics that rest on few or no answers in a condition, so none goes unseen.

A metric whose rows in a condition are all invalid gives NaN there, and one whose rows are
mostly invalid gives a number over a small, selected part of the answers; both look like
ordinary cells in a table. :func:`emptiness_warnings` says so in one line each, with the
likely cause.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from weirdgen.spec.models import MetricSpec
from weirdgen.stats._coherence import metric_answers
from weirdgen.stats.metrics import final_samples, metric_rows

MOSTLY_INVALID = 0.5
"""Share of a metric's answers in a condition above which they are reported as mostly invalid."""


class _Invalid(NamedTuple):
    """Why answers do not count, each answer under its first reason, in this order."""

    unscored: int
    among: int
    no_key: int
    unrated: int
    incoherent: int


def emptiness_warnings(
    samples: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    empty_by_design: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """One line per metric and condition where the metric has no valid answers, or where
    more than half of its answers are invalid.

    An answer of a metric is a final-model row of its eval set (see :func:`final_samples`);
    it is valid when its score is not NaN, ``among`` (if set) is true, it has a value for each
    ``by`` key, and the coherence filter (if set) keeps it. Conditions are the values of
    ``samples["condition"]`` in order of appearance, so a condition without any answer in a
    metric's eval set is reported too. Each line names the counts, the reasons and a likely fix.

    Args:
        samples: The tidy samples table with its score columns.
        metrics: The metrics to check, usually ``spec.metrics``.
        empty_by_design: Score column to the conditions where it is empty on purpose
            (``spec.empty_by_design()``: train_match where there is no finetuning data); a
            metric left without any score there is not reported.

    Returns:
        The warning lines, metric by metric in the given order; empty when every metric has
        a majority of valid answers in every condition.
    """
    conditions = samples["condition"].dropna().unique().tolist() if "condition" in samples else []
    final = final_samples(samples)
    lines = []
    for metric in metrics:
        needed = [metric.score, metric.among, *metric.by, "eval_set", "condition"]
        needed += [metric.coherence.score] if metric.coherence else []
        missing = [c for c in needed if c is not None and c not in samples]
        if missing:
            lines.append(
                f"metric {metric.name} reads column(s) {missing} that the samples table lacks; "
                "add the scorer that writes them to the spec, or fix the metric's fields"
            )
            continue
        rows = metric_rows(final, metric)
        expected = (empty_by_design or {}).get(metric.score, ())
        for condition in conditions:
            here = rows.loc[rows["condition"] == condition]
            if condition in expected and len(here) and here[metric.score].isna().all():
                continue
            line = _condition_warning(metric, here, condition)
            if line:
                lines.append(line)
    return lines


def _condition_warning(metric: MetricSpec, rows: pd.DataFrame, condition: str) -> str | None:
    total = len(rows)
    if total == 0:
        return (
            f"metric {metric.name} has no valid rows in condition {condition} (no answers in "
            f"eval set {metric.eval_set}): sample eval set {metric.eval_set} for {condition}, "
            "or fix the metric's eval_set"
        )
    invalid = _invalid(metric, rows)
    count = sum(invalid)
    if count == total:
        return (
            f"metric {metric.name} has no valid rows in condition {condition} "
            f"({_all_invalid(metric, invalid, total)}): {_hint(metric, invalid)}"
        )
    if count > MOSTLY_INVALID * total:
        return (
            f"metric {metric.name}: {count} of {total} answers ({100 * count / total:.0f}%) in "
            f"condition {condition} are invalid ({_reasons(metric, invalid)}): "
            f"{_hint(metric, invalid)}"
        )
    return None


def _invalid(metric: MetricSpec, rows: pd.DataFrame) -> _Invalid:
    """The invalid answers among ``rows``, each counted under its first reason."""
    unscored = np.isnan(rows[metric.score].to_numpy(dtype=float, na_value=np.nan))
    answers = metric_answers(rows, metric)
    no_key = rows.loc[:, list(metric.by)].isna().any(axis=1).to_numpy(dtype=bool)
    left = ~unscored
    reasons = []
    for flags in (~answers.counted, no_key, answers.unrated, answers.incoherent):
        reasons.append(int((left & flags).sum()))
        left &= ~flags
    return _Invalid(int(unscored.sum()), *reasons)


def _reasons(metric: MetricSpec, invalid: _Invalid) -> str:
    coherence = metric.coherence
    texts = (
        f"no {metric.score} score",
        f"{metric.among} not true",
        f"no {' or '.join(metric.by)} value",
        f"no {coherence.score} rating" if coherence else "",
        f"{coherence.score} < {coherence.min:g}" if coherence else "",
    )
    return ", ".join(f"{n} with {text}" for n, text in zip(invalid, texts, strict=True) if n)


def _all_invalid(metric: MetricSpec, invalid: _Invalid, total: int) -> str:
    """Why none of ``total`` answers counts, in the words of its single reason if it has one."""
    if invalid.unscored == total:
        return f"0 of {total} answers scored; column {metric.score} is empty there"
    if invalid.among == total:
        return f"{total} answers, none with {metric.among} true"
    if metric.coherence and invalid.unrated + invalid.incoherent == total:
        return f"all {total} answers left out by the coherence filter: {_reasons(metric, invalid)}"
    return f"0 of {total} answers valid: {_reasons(metric, invalid)}"


def _hint(metric: MetricSpec, invalid: _Invalid) -> str:
    """The likely fix for the most common reason."""
    reason = max(range(len(invalid)), key=lambda i: invalid[i])
    coherence = metric.coherence
    if reason == 0:
        return (
            f"check the scorer that writes {metric.score} (NaN means it gave no score: a failed "
            "or refused judge call, an unparsable answer)"
        )
    if reason == 1:
        return (
            f"the metric averages only answers where {metric.among} is true; read some answers "
            "in samples.csv, or drop the metric's among"
        )
    if reason == 2:
        return f"give the questions of eval set {metric.eval_set} metadata {list(metric.by)}"
    assert coherence is not None
    if reason == 3:
        return f"check the judge that writes {coherence.score}; unrated answers are left out"
    return (
        f"most answers rate below coherence.min {coherence.min:g}; read some in samples.csv, "
        "or lower the metric's coherence.min"
    )
