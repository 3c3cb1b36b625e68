"""Target minus control differences per metric, paired by seed, with Student t intervals."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from weirdgen.errors import WeirdgenError
from weirdgen.stats._checks import check_one_row_per_seed
from weirdgen.stats._interval import clipped, difference_interval, mean_interval

CONTRAST_COLUMNS: tuple[str, ...] = (
    "metric",
    "target",
    "control",
    "diff",
    "ci_low",
    "ci_high",
    "n_pairs",
    "paired",
    "n_target",
    "n_control",
)


def contrasts(
    seed_table: pd.DataFrame,
    target: str,
    controls: list[str],
    confidence: float = 0.95,
    by: Sequence[str] = (),
    rates: Collection[str] = (),
) -> pd.DataFrame:
    """The difference target - control of each metric, with a Student t interval.

    Seeds are paired by equal seed value: with at least one seed that has a non-NaN value
    in both arms, ``diff`` is the mean of the per-seed differences over those pairs and the
    interval is the t interval of those differences (``paired`` is True). Seeds present in
    only one arm are then left out. With no pairs at all, ``diff`` is mean(target) -
    mean(control) with Welch's t interval (``paired`` is False, ``n_pairs`` is 0). With
    ``by`` keys, each value of the keys is contrasted on its own. Degenerate cases follow
    :func:`summarize`: one pair (or, unpaired, one seed in either arm) gives a NaN interval;
    identical differences give [diff, diff]; an empty arm gives NaN. The interval of a
    metric named in ``rates`` is clipped to [-1, 1].

    Args:
        seed_table: Output of :func:`seed_metrics` (or :func:`question_metrics` with
            ``by=("question_id",)``).
        target: Name of the target condition.
        controls: Names of the control conditions, one contrast each.
        confidence: Confidence level of the interval.
        by: Extra grouping columns: the metrics' ``by`` keys (:func:`metric_keys`), or
            ``("question_id",)`` on a per-question table. Rows with an empty key (a metric
            not computed by that key) form their own group.
        rates: Metrics whose values are rates in [0, 1] (:func:`rate_metrics`).

    Returns:
        Columns metric, *by, target, control, diff, ci_low, ci_high, n_pairs, paired,
        n_target, n_control (the last two: seeds with a value in each arm).
    """
    keys = ["metric", *by]
    check_one_row_per_seed(seed_table, ["condition", *keys])
    _check_conditions(seed_table, [target, *controls])
    rows = []
    for key, group in seed_table.groupby(keys, sort=False, dropna=False):
        wide = group.pivot(index="seed", columns="condition", values="value")
        wide = wide.reindex(columns=list(dict.fromkeys([target, *controls])))
        for control in controls:
            result = _contrast(
                wide[target].to_numpy(dtype=float),
                wide[control].to_numpy(dtype=float),
                confidence,
                (-1.0, 1.0) if key[0] in rates else None,
            )
            rows.append((*key, target, control, *result))
    columns = [*keys, *CONTRAST_COLUMNS[1:]]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype(
        {
            "diff": float,
            "ci_low": float,
            "ci_high": float,
            "n_pairs": int,
            "paired": bool,
            "n_target": int,
            "n_control": int,
        }
    )


def _contrast(
    target: np.ndarray,
    control: np.ndarray,
    confidence: float,
    bounds: tuple[float, float] | None,
) -> tuple[float, float, float, int, bool, int, int]:
    both = ~np.isnan(target) & ~np.isnan(control)
    n_target, n_control = int((~np.isnan(target)).sum()), int((~np.isnan(control)).sum())
    if both.any():
        interval = mean_interval(target[both] - control[both], confidence)
        paired, n_pairs = True, int(both.sum())
    else:
        interval = difference_interval(target, control, confidence)
        paired, n_pairs = False, 0
    if bounds is not None:
        interval = clipped(interval, *bounds)
    return (*interval, n_pairs, paired, n_target, n_control)


def _check_conditions(seed_table: pd.DataFrame, names: list[str]) -> None:
    present = seed_table["condition"].unique().tolist() if "condition" in seed_table else []
    missing = [name for name in names if name not in present]
    if missing:
        raise WeirdgenError(
            f"contrast condition(s) {missing} are not in the seed table (conditions present: "
            f"{present}); check the target and control names against the spec's conditions"
        )
