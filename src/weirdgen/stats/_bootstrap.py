"""Percentile bootstrap intervals for a mean and a difference of means, degenerate cases included.

Conventions shared by :func:`weirdgen.stats.summarize` and :func:`weirdgen.stats.contrasts`:

- NaN values are dropped first.
- No values: estimate and interval are NaN.
- One value (or, unpaired, one value in either arm): the interval is NaN, since a single seed
  says nothing about seed-to-seed spread.
- All resampled statistics equal (every value identical): the interval is [estimate, estimate].
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
from scipy import stats


class Interval(NamedTuple):
    """A point estimate with its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float


_NAN_INTERVAL = Interval(np.nan, np.nan, np.nan)


def group_rng(rng_seed: int, key: tuple[object, ...]) -> np.random.Generator:
    """A generator seeded by ``rng_seed`` and the group's key.

    Each group draws from its own stream, so adding a condition or metric to a table leaves
    the intervals of the other groups unchanged.
    """
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return np.random.default_rng([rng_seed, int.from_bytes(digest, "little")])


def finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def mean_interval(
    values: np.ndarray, confidence: float, n_resamples: int, rng: np.random.Generator
) -> Interval:
    """Mean of ``values`` (NaN dropped) and a percentile bootstrap CI over them."""
    values = finite(values)
    if values.size == 0:
        return _NAN_INTERVAL
    estimate = float(values.mean())
    if values.size == 1:
        return Interval(estimate, np.nan, np.nan)
    if np.all(values == values[0]):
        return Interval(estimate, estimate, estimate)
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=rng,
    )
    ci = result.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high))


def difference_interval(
    target: np.ndarray,
    control: np.ndarray,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> Interval:
    """mean(target) - mean(control), each arm resampled independently (unpaired)."""
    target, control = finite(target), finite(control)
    if target.size == 0 or control.size == 0:
        return _NAN_INTERVAL
    estimate = float(target.mean() - control.mean())
    if target.size == 1 or control.size == 1:
        return Interval(estimate, np.nan, np.nan)
    if np.all(target == target[0]) and np.all(control == control[0]):
        return Interval(estimate, estimate, estimate)
    result = stats.bootstrap(
        (target, control),
        _difference_of_means,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        confidence_level=confidence,
        method="percentile",
        rng=rng,
    )
    ci = result.confidence_interval
    return Interval(estimate, float(ci.low), float(ci.high))


def _difference_of_means(target: np.ndarray, control: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(target, axis=axis) - np.mean(control, axis=axis)
