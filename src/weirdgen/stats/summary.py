"""Mean over seeds with a Student t confidence interval, per condition and metric."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd

from weirdgen.stats._checks import check_one_row_per_seed
from weirdgen.stats._coherence import COHERENCE_COLUMNS, has_coherence, pooled_counts
from weirdgen.stats._interval import clipped, mean_interval

SUMMARY_GROUP: tuple[str, ...] = ("condition", "role", "metric")


def summarize(
    seed_table: pd.DataFrame,
    confidence: float = 0.95,
    by: Sequence[str] = (),
    rates: Collection[str] = (),
) -> pd.DataFrame:
    """Mean across seeds of each metric per condition, with a t interval over seeds.

    The interval is mean ± t_{n-1} · s/√n over the n seeds, which keeps its coverage at the
    3 to 10 seeds of an experiment where a bootstrap is too narrow (see
    ``weirdgen.stats._interval``). Degenerate groups behave as follows, without warnings:
    NaN seed values are dropped (``n_seeds`` counts the rest); no seeds left gives NaN
    everywhere; one seed gives the mean with a NaN interval; identical values give the
    interval [value, value]. The interval of a metric named in ``rates`` is clipped to
    [0, 1]. Nothing is random.

    When ``seed_table`` has the coherence columns (a metric with a coherence filter, see
    :func:`seed_metrics`), the summary has them too: the counts summed over every seed of the
    group, NaN-valued seeds included, and ``excluded``, the share of the group's answers the
    filter left out (empty for metrics without a filter).

    Args:
        seed_table: Output of :func:`seed_metrics`, or of :func:`question_metrics` with
            ``by=("question_id",)``.
        confidence: Confidence level of the interval.
        by: Extra grouping columns: the metrics' ``by`` keys (:func:`metric_keys`), and
            ``"question_id"`` for a per-question summary or ``"step"`` for a training curve.
            Rows with an empty key (a metric not computed by that key) form their own group.
        rates: Metrics whose values are rates in [0, 1] (:func:`rate_metrics`).

    Returns:
        Columns condition, role, metric, *by, mean, ci_low, ci_high, n_seeds, and n_answers,
        n_incoherent, n_unrated, excluded when ``seed_table`` has them.

    Raises:
        WeirdgenError: A group holds more than one row per seed (a grouping column is
            missing from ``by``).
    """
    keys = [*SUMMARY_GROUP, *by]
    check_one_row_per_seed(seed_table, keys)
    coherence = has_coherence(seed_table)
    rows = []
    for key, group in seed_table.groupby(keys, sort=False, dropna=False):
        values = group["value"].to_numpy(dtype=float)
        interval = mean_interval(values, confidence)
        if key[SUMMARY_GROUP.index("metric")] in rates:
            interval = clipped(interval, 0.0, 1.0)
        counts = pooled_counts(group) if coherence else ()
        rows.append((*key, *interval, int(group["value"].notna().sum()), *counts))
    columns = [*keys, "mean", "ci_low", "ci_high", "n_seeds"]
    types: dict[str, object] = {"mean": float, "ci_low": float, "ci_high": float, "n_seeds": int}
    if coherence:
        columns += COHERENCE_COLUMNS
        types |= {c: "Int64" for c in COHERENCE_COLUMNS[:3]} | {"excluded": float}
    table = pd.DataFrame(rows, columns=columns)
    return table.astype(types)
