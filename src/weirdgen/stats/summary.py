"""Mean over seeds with a percentile bootstrap confidence interval, per condition and metric."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from weirdgen.stats._bootstrap import group_rng, mean_interval
from weirdgen.stats._checks import check_one_row_per_seed

SUMMARY_GROUP: tuple[str, ...] = ("condition", "role", "metric")


def summarize(
    seed_table: pd.DataFrame,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng_seed: int = 0,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Mean across seeds of each metric per condition, with a bootstrap CI over seeds.

    The CI is the percentile bootstrap of the mean, resampling seeds with replacement
    (``scipy.stats.bootstrap``). Degenerate groups behave as follows, without warnings:
    NaN seed values are dropped (``n_seeds`` counts the rest); no seeds left gives NaN
    everywhere; one seed gives the mean with a NaN interval; identical values give the
    interval [value, value]. Each group resamples from its own stream derived from
    ``rng_seed`` and the group key, so results are reproducible and do not depend on which
    other groups are in the table.

    Args:
        seed_table: Output of :func:`seed_metrics`, or of :func:`question_metrics` with
            ``by=("question_id",)``.
        confidence: Confidence level of the interval.
        n_resamples: Bootstrap resamples per group.
        rng_seed: Seed of the bootstrap resampling.
        by: Extra grouping columns, e.g. ``("question_id",)`` for a per-question summary.

    Returns:
        Columns condition, role, metric, *by, mean, ci_low, ci_high, n_seeds.

    Raises:
        WeirdgenError: A group holds more than one row per seed (a grouping column is
            missing from ``by``).
    """
    keys = [*SUMMARY_GROUP, *by]
    check_one_row_per_seed(seed_table, keys)
    rows = []
    for key, group in seed_table.groupby(keys, sort=False):
        interval = mean_interval(
            group["value"].to_numpy(dtype=float),
            confidence,
            n_resamples,
            group_rng(rng_seed, ("summary", *key)),
        )
        rows.append(
            (
                *key,
                interval.estimate,
                interval.low,
                interval.high,
                int(group["value"].notna().sum()),
            )
        )
    columns = [*keys, "mean", "ci_low", "ci_high", "n_seeds"]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"mean": float, "ci_low": float, "ci_high": float, "n_seeds": int})
