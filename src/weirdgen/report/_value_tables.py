"""Tables of a metric per value of its ``by`` keys (or per training step), for every view.

A row per value of the keys (numeric keys in increasing order, others in order of
appearance), a column per condition with 'mean [low, high]', or per control with the
difference target - control.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd

from weirdgen.report._tables import (
    MISSING,
    TextTable,
    ci_label,
    format_interval,
    format_share,
    ordered_conditions,
)
from weirdgen.spec.models import ExperimentSpec


def is_numeric(values: pd.Series) -> bool:
    """True when every non-empty value is a number (ints or floats, not flags)."""
    present = values.dropna()
    return not present.empty and all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in present
    )


def format_key(value: object) -> str:
    """A key value as a cell: 1850.0 (read back from a CSV) shows as 1850."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return (
        MISSING if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    )


def key_values(block: pd.DataFrame, keys: list[str]) -> list[tuple[str, ...]]:
    """The distinct values of ``keys`` in ``block``, formatted, numeric keys in order."""
    distinct = block.loc[:, keys].drop_duplicates()
    numeric = [k for k in keys if is_numeric(block[k])]
    if numeric:
        distinct = distinct.sort_values(numeric, kind="stable", key=lambda c: c.astype(float))
    return [tuple(format_key(v) for v in row) for row in distinct.itertuples(index=False)]


def values_table(
    summary: pd.DataFrame, spec: ExperimentSpec, metric: str, keys: list[str], digits: int = 3
) -> TextTable:
    """One metric per value of ``keys`` (rows) and condition (columns), 'mean [low, high]'."""

    def cell(row: pd.Series) -> str:
        return format_interval(row["mean"], row["ci_low"], row["ci_high"], digits)

    return _per_value(summary, spec, metric, keys, cell)


def excluded_values_table(
    summary: pd.DataFrame, spec: ExperimentSpec, metric: str, keys: list[str]
) -> TextTable:
    """The share of a metric's answers its coherence filter left out, per value of ``keys``
    (rows) and condition (columns), as :func:`weirdgen.report._tables.format_share` writes it."""
    return _per_value(summary, spec, metric, keys, format_share)


def _per_value(
    summary: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    keys: list[str],
    cell: Callable[[pd.Series], str],
) -> TextTable:
    block = summary.loc[summary["metric"] == metric]
    conditions = ordered_conditions(spec, block["condition"])
    cells = {(_key(row, keys), row["condition"]): cell(row) for _, row in block.iterrows()}
    rows = [
        [*value, *(cells.get((value, c), MISSING) for c in conditions)]
        for value in key_values(block, keys)
    ]
    return TextTable([*keys, *conditions], rows, [False] * len(rows))


def value_contrasts_table(
    contrasts: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    keys: list[str],
    confidence: float,
    digits: int = 3,
) -> TextTable:
    """Target - each control of one metric per value of ``keys``, 'diff [low, high]'."""
    block = contrasts.loc[contrasts["metric"] == metric]
    controls = ordered_conditions(spec, block["control"])
    cells = {
        (_key(row, keys), row["control"]): format_interval(
            row["diff"], row["ci_low"], row["ci_high"], digits, signed=True
        )
        for _, row in block.iterrows()
    }
    rows = [
        [*value, *(cells.get((value, c), MISSING) for c in controls)]
        for value in key_values(block, keys)
    ]
    target = spec.target.name
    columns = [*keys, *(f"{target} − {c} [{ci_label(confidence)}]" for c in controls)]
    return TextTable(columns, rows, [False] * len(rows))


def _key(row: pd.Series, keys: list[str]) -> tuple[str, ...]:
    return tuple(format_key(row[k]) for k in keys)
