"""The answers each metric leaves out, counted, and warnings where they matter.

A metric whose rows in a condition are all invalid gives NaN there, one whose rows are
mostly invalid gives a number over a small, selected part of the answers, and one that
skips answers without a score (a judge that gave no rating) averages the rest as if they
were all; each looks like an ordinary cell in a table. :func:`emptiness_warnings` says so in
one line each, with the likely cause; :func:`left_out` counts every answer each metric leaves
out in each condition, by reason, for the report's table.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from weirdgen.spec.models import MetricSpec
from weirdgen.stats._coherence import metric_answers
from weirdgen.stats.metrics import final_samples, metric_rows

MOSTLY_INVALID = 0.5
"""Share of a metric's answers in a condition above which they are reported as mostly invalid."""

LEFT_OUT_COLUMNS: tuple[str, ...] = (
    "metric", "condition", "n_answers", "n_left_out", "no_score", "among_false", "no_key",
    "unrated", "incoherent", "empty_by_design",
)  # fmt: skip
"""Columns of :func:`left_out`: per metric and condition, the answers, those left out of the
mean, and each reason's count (each answer under its first reason: among_false, then no_score,
no_key, unrated, incoherent)."""


class _Invalid(NamedTuple):
    """Why answers do not count, each answer under its first reason (``among`` first, then the
    fields in order)."""

    unscored: int
    among: int
    no_key: int
    unrated: int
    incoherent: int

    @property
    def missing_scores(self) -> int:
        """Answers left out because a value is missing (no score, no ``by`` key value), as
        opposed to by the metric's definition (``among`` false, coherence filter)."""
        return self.unscored + self.no_key


def emptiness_warnings(
    samples: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    empty_by_design: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """One line per metric and condition where the metric has no valid answers, where more
    than half of its answers are invalid, or where it leaves out answers without a score.

    An answer of a metric is a final-model row of its eval set (see :func:`final_samples`);
    it is valid when its score is not NaN, ``among`` (if set) is true, it has a value for each
    ``by`` key, and the coherence filter (if set) keeps it. Conditions are the values of
    ``samples["condition"]`` in order of appearance, so a condition without any answer in a
    metric's eval set is reported too. Each line names the counts, the reasons and a likely fix.

    A condition where some answers have no score (NaN: a judge that gave no rating, an
    answer no rule could read) or no value for a ``by`` key gets a line whatever their share,
    since they are skipped by the mean; answers left out by the metric's definition only
    (``among`` false with a score, the coherence filter, whose share is a column of the
    tables) are counted in :func:`left_out` and warned about only above half.

    Args:
        samples: The tidy samples table with its score columns.
        metrics: The metrics to check, usually ``spec.metrics``.
        empty_by_design: Score column to the conditions where it is empty on purpose
            (``spec.empty_by_design()``: train_match where there is no finetuning data); a
            metric left without any score there is not reported.

    Returns:
        The warning lines, metric by metric in the given order; empty when no metric skips
        an answer for lack of a score and every metric has a majority of valid answers in
        every condition.
    """
    conditions = samples["condition"].dropna().unique().tolist() if "condition" in samples else []
    final = final_samples(samples)
    lines = []
    for metric in metrics:
        missing = _missing_columns(samples, metric)
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
    if invalid.missing_scores:
        return (
            f"metric {metric.name}: {count} of {total} answers ({100 * count / total:.0f}%) in "
            f"condition {condition} are left out of its mean ({_reasons(metric, invalid)}): "
            f"{_hint(metric, invalid)}"
        )
    return None


def left_out(
    samples: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    empty_by_design: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """Every metric's answers in each condition and how many of them its mean leaves out,
    by reason: the count behind :func:`emptiness_warnings`, for each metric and condition.

    An answer is a final-model row of the metric's eval set (and ``where``); it is left out
    for the first of: ``among`` not true (``among_false``), no score (``no_score``), no value
    for a ``by`` key (``no_key``), no coherence rating (``unrated``), a coherence rating
    below the filter's ``min`` (``incoherent``). ``empty_by_design`` is True where the
    metric's score column is empty on purpose (see :func:`emptiness_warnings`). A metric
    reading a column the table lacks has no rows.

    Returns:
        :data:`LEFT_OUT_COLUMNS`, one row per metric (in the given order) and condition (in
        order of appearance), also where nothing is left out.
    """
    conditions = samples["condition"].dropna().unique().tolist() if "condition" in samples else []
    final = final_samples(samples)
    rows = []
    for metric in metrics:
        if _missing_columns(samples, metric):
            continue
        answers = metric_rows(final, metric)
        expected = (empty_by_design or {}).get(metric.score, ())
        for condition in conditions:
            here = answers.loc[answers["condition"] == condition]
            invalid = _invalid(metric, here) if len(here) else _Invalid(0, 0, 0, 0, 0)
            designed = condition in expected and len(here) > 0 and invalid.unscored == len(here)
            rows.append([metric.name, condition, len(here), sum(invalid), *invalid, designed])
    table = pd.DataFrame(rows, columns=list(LEFT_OUT_COLUMNS))
    counts = list(LEFT_OUT_COLUMNS[2:-1])
    return table.astype({**dict.fromkeys(counts, "int64"), "empty_by_design": bool})


def left_out_reasons(metric: MetricSpec, row: Mapping[str, Any]) -> str:
    """The reasons of a :func:`left_out` row in words, e.g. '6 with no aligned score'."""
    invalid = _Invalid(*(int(row[column]) for column in LEFT_OUT_COLUMNS[4:9]))
    return _reasons(metric, invalid)


def _missing_columns(samples: pd.DataFrame, metric: MetricSpec) -> list[str]:
    needed = [metric.score, metric.among, *metric.by, "eval_set", "condition"]
    needed += [metric.coherence.score] if metric.coherence else []
    return [c for c in needed if c is not None and c not in samples]


def _invalid(metric: MetricSpec, rows: pd.DataFrame) -> _Invalid:
    """The invalid answers among ``rows``, each counted under its first reason; an answer
    ``among`` leaves out is left out by the metric's definition whether or not it has a score
    (an off-topic answer has neither an era nor ``old_valid``)."""
    answers = metric_answers(rows, metric)
    unscored = answers.counted & np.isnan(rows[metric.score].to_numpy(dtype=float, na_value=np.nan))
    no_key = rows.loc[:, list(metric.by)].isna().any(axis=1).to_numpy(dtype=bool)
    left = answers.counted & ~unscored
    reasons = []
    for flags in (no_key, answers.unrated, answers.incoherent):
        reasons.append(int((left & flags).sum()))
        left &= ~flags
    return _Invalid(int(unscored.sum()), int((~answers.counted).sum()), *reasons)


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
