"""Student t intervals for a mean and a difference of means, degenerate cases included.

Why Student t and not the bootstrap: an experiment has 3 to 10 seeds, and at that size a
bootstrap interval is too narrow. In 2,000 simulated experiments per case
(``tests/stats/test_interval_coverage.py``) the 95% percentile bootstrap covered the true
mean 77% of the time with 3 normal seeds, 83% with 5 and 90% with 10, and BCa no better
(75%, 83%, 90%); the t interval covered 95-96% at every size. On skewed seed values (rates
drawn from a beta near 0.05 or 0.9) the t interval covers 89-94%, the bootstrap 70-88%.

Conventions shared by :func:`weirdgen.stats.summarize` and :func:`weirdgen.stats.contrasts`:

- NaN values are dropped first.
- No values: estimate and interval are NaN.
- One value (or, unpaired, one value in either arm): the interval is NaN, since a single seed
  says nothing about seed-to-seed spread.
- No spread (every value identical; unpaired, each arm constant): the interval is
  [estimate, estimate].

The t interval is symmetric and unbounded; for a rate (a metric whose scores all lie in
[0, 1]) it is clipped to [0, 1], and a difference of rates to [-1, 1]: the true mean lies
inside, so clipping shortens the interval without changing its coverage.

Nothing is random, so every interval is reproducible without a seed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import stats

METHOD = "Student t"
"""How the intervals are computed, as the report names it."""


class Interval(NamedTuple):
    """A point estimate with its confidence interval."""

    estimate: float
    low: float
    high: float


_NAN_INTERVAL = Interval(np.nan, np.nan, np.nan)


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` as floats, NaN dropped."""
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def mean_interval(values: np.ndarray, confidence: float) -> Interval:
    """Mean of ``values`` (NaN dropped) with the t interval mean ± t_{n-1} · s/√n.

    Applied to per-seed differences, this is the paired interval of a contrast.
    """
    values = finite(values)
    if values.size == 0:
        return _NAN_INTERVAL
    estimate = float(values.mean())
    if values.size == 1:
        return Interval(estimate, np.nan, np.nan)
    if np.all(values == values[0]):
        return Interval(estimate, estimate, estimate)
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    half_width = _t_quantile((1 + confidence) / 2, values.size - 1) * standard_error
    return Interval(estimate, float(estimate - half_width), float(estimate + half_width))


def difference_interval(target: np.ndarray, control: np.ndarray, confidence: float) -> Interval:
    """mean(target) - mean(control) of two independent arms, with Welch's t interval.

    Welch's interval does not assume equal variances, so a control whose seeds all agree (a
    base model near 0) does not shrink the target's spread.
    """
    target, control = finite(target), finite(control)
    if target.size == 0 or control.size == 0:
        return _NAN_INTERVAL
    estimate = float(target.mean() - control.mean())
    if target.size == 1 or control.size == 1:
        return Interval(estimate, np.nan, np.nan)
    if np.all(target == target[0]) and np.all(control == control[0]):
        return Interval(estimate, estimate, estimate)
    test = stats.ttest_ind(target, control, equal_var=False)
    ci = test.confidence_interval(confidence_level=confidence)
    return Interval(estimate, float(ci.low), float(ci.high))


def clipped(interval: Interval, low: float, high: float) -> Interval:
    """``interval`` with its bounds clipped to [low, high] (NaN bounds stay NaN)."""
    return interval._replace(
        low=float(np.clip(interval.low, low, high)), high=float(np.clip(interval.high, low, high))
    )


@lru_cache(maxsize=256)
def _t_quantile(probability: float, df: int) -> float:
    return float(stats.t.ppf(probability, df))
