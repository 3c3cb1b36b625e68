"""A metric's answers: which ones it counts, and which its coherence filter leaves out.

A metric counts the rows of its evaluation set where ``among`` holds (every row without
``among``). With a coherence filter it then leaves out the counted rows whose coherence score
is below ``min`` (incoherent) or NaN (unrated); the stats tables give those counts and the
share left out, :data:`COHERENCE_COLUMNS`, for metrics with a filter only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from weirdgen.spec.models import MetricSpec

if TYPE_CHECKING:
    from pandas.api.typing import DataFrameGroupBy

COHERENCE_COLUMNS: tuple[str, ...] = ("n_answers", "n_incoherent", "n_unrated", "excluded")
"""Columns after ``value`` when a metric has a coherence filter: the answers it counts before
the filter, those left out for a coherence score below ``min`` and for none, and the share
left out, (n_incoherent + n_unrated) / n_answers. Empty for a metric without a filter."""

_COUNTS = COHERENCE_COLUMNS[:3]


class Answers(NamedTuple):
    """Boolean masks over one eval set's rows, for one metric."""

    counted: np.ndarray
    """Rows the metric counts before the coherence filter (``among`` true, if set)."""
    incoherent: np.ndarray
    """Counted rows whose coherence score is below the filter's ``min``."""
    unrated: np.ndarray
    """Counted rows without a coherence score (NaN)."""

    @property
    def kept(self) -> np.ndarray:
        """Rows the metric averages: counted and not left out by the coherence filter."""
        return self.counted & ~self.incoherent & ~self.unrated


def metric_answers(rows: pd.DataFrame, metric: MetricSpec) -> Answers:
    """Which of ``rows`` (one eval set's) ``metric`` counts and which its filter leaves out."""
    counted = np.ones(len(rows), dtype=bool)
    if metric.among:
        counted = rows[metric.among].eq(True).to_numpy(dtype=bool, na_value=False)
    none = np.zeros(len(rows), dtype=bool)
    if metric.coherence is None:
        return Answers(counted, none, none)
    coherence = rows[metric.coherence.score].to_numpy(dtype=float, na_value=np.nan)
    unrated = counted & np.isnan(coherence)
    with np.errstate(invalid="ignore"):
        incoherent = counted & ~unrated & (coherence < metric.coherence.min)
    return Answers(counted, incoherent, unrated)


def answer_counts(answers: Answers) -> dict[str, np.ndarray]:
    """The per-row flags to sum into :data:`COHERENCE_COLUMNS` counts, by column name."""
    return dict(zip(_COUNTS, answers[:3], strict=True))


def mean_and_counts(grouped: DataFrameGroupBy) -> pd.DataFrame:
    """Each group's mean ``value``, its summed counts and the share left out of them."""
    counts = {column: (column, "sum") for column in _COUNTS}
    return grouped.agg(value=("value", "mean"), **counts).pipe(_with_share)


def _with_share(table: pd.DataFrame) -> pd.DataFrame:
    counts = table.loc[:, list(_COUNTS)].astype("Int64")
    answers = counts["n_answers"].to_numpy(dtype=float, na_value=np.nan)
    left_out = (counts["n_incoherent"] + counts["n_unrated"]).to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        share = left_out / answers  # 0 / 0 (no answers) is NaN
    return table.assign(**{c: counts[c] for c in _COUNTS}, excluded=share)


def without_counts(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with empty :data:`COHERENCE_COLUMNS` (a metric without a coherence filter)."""
    empty = {c: pd.array([pd.NA] * len(table), dtype="Int64") for c in _COUNTS}
    return table.assign(**empty, excluded=np.full(len(table), np.nan))


def has_coherence(table: pd.DataFrame) -> bool:
    """True when ``table`` carries the :data:`COHERENCE_COLUMNS`."""
    return all(column in table for column in COHERENCE_COLUMNS)


def pooled_counts(group: pd.DataFrame) -> tuple[object, ...]:
    """The counts of :data:`COHERENCE_COLUMNS` summed over ``group``'s rows (NA when every
    row's is empty), and the share left out of the sums."""
    sums = [group[column].sum(min_count=1) for column in _COUNTS]
    total, incoherent, unrated = (np.nan if pd.isna(s) else float(s) for s in sums)
    share = (incoherent + unrated) / total if total > 0 else np.nan
    return (*(pd.NA if pd.isna(s) else int(s) for s in sums), share)
