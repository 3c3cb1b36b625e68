"""Rich tables for the terminal: metrics per condition and the target - control contrasts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from weirdgen.report._tables import (
    TextTable,
    ci_label,
    contrasts_table,
    excluded_header,
    interval_note,
    metrics_table,
)
from weirdgen.report._value_tables import excluded_values_table, values_table
from weirdgen.spec.models import ExperimentSpec


class TerminalTables(NamedTuple):
    """The terminal tables; ``console.print(tables)`` prints them all.

    ``per_value`` holds a table per metric with ``by`` keys: the metric per key value and
    condition (and, for a metric with a coherence filter, a second one: the share of answers
    it left out). ``warnings`` are printed after the tables, each on a line of its own
    prefixed 'warning: ' (wrapped at the console's width, like the tables, not cropped).
    """

    metrics: Table
    contrasts: Table
    per_value: tuple[Table, ...] = ()
    warnings: tuple[str, ...] = ()

    def __rich__(self) -> Group:
        parts: list[Table | Text | str] = [self.metrics]
        for table in (self.contrasts, *self.per_value):
            parts += ["", table]
        if self.warnings:
            parts.append("")
        for line in self.warnings:
            parts.append(Text(f"warning: {line}", style="yellow"))
        return Group(*parts)


def render_table(
    summary: pd.DataFrame,
    contrasts: pd.DataFrame,
    spec: ExperimentSpec,
    confidence: float = 0.95,
    warnings: Sequence[str] = (),
) -> TerminalTables:
    """Terminal tables: conditions x metrics as 'mean [lo, hi]', the contrasts, and each
    metric with ``by`` keys per key value; then the warnings, one line each.

    The headline metric is the first metric column; the target row is bold and marked with
    a triangle (so there is no role column). The title says what the intervals are over, with
    the seed counts of ``summary``. Numbers have two decimals so that three or four metrics
    fit in 100 columns. A metric with a coherence filter is followed by the share of its
    answers the filter left out.

    Args:
        summary: Output of :func:`weirdgen.stats.summarize` on the seed metrics.
        contrasts: Output of :func:`weirdgen.stats.contrasts`.
        spec: The experiment spec (condition order, target, headline metric).
        confidence: The confidence level the intervals were computed at (for the titles).
        warnings: Lines to print after the tables, e.g. from
            :func:`weirdgen.stats.emptiness_warnings`.
    """
    ci = ci_label(confidence)
    metrics = _without_column(metrics_table(summary, spec, digits=2), "role")
    metrics_view = _rich_table(
        metrics,
        title=f"{spec.name}: mean over seeds [{interval_note(summary, spec, confidence)}]",
        caption=f"▶ target condition · headline metric: {spec.headline.name}",
        numeric_from=1,
    )
    contrasts_view = _rich_table(
        contrasts_table(contrasts, spec, confidence, digits=2),
        title=f"Contrasts: {spec.target.name} − each control [{ci}]",
        caption="paired by seed where both arms have the seed",
        numeric_from=2,
    )
    per_value = []
    for metric in spec.metrics:
        if not metric.by or metric.name not in set(summary["metric"]):
            continue
        keys, named = list(metric.by), " and ".join(metric.by)
        per_value.append(
            _rich_table(
                values_table(summary, spec, metric.name, keys, digits=2),
                title=f"{metric.name} by {named}: mean over seeds [{ci}]",
                caption="the report has its contrasts and figure",
                numeric_from=len(keys),
            )
        )
        if metric.coherence is not None:
            per_value.append(
                _rich_table(
                    excluded_values_table(summary, spec, metric.name, keys),
                    title=f"{metric.name} by {named}: answers {excluded_header(metric)}",
                    caption="share of the answers the coherence filter left out",
                    numeric_from=len(keys),
                )
            )
    return TerminalTables(metrics_view, contrasts_view, tuple(per_value), tuple(warnings))


def _rich_table(table: TextTable, title: str, caption: str, numeric_from: int) -> Table:
    view = Table(
        title=Text(title), caption=Text(caption), header_style="bold", title_justify="left"
    )
    for index, column in enumerate(table.columns):
        numeric = index >= numeric_from
        view.add_column(Text(column), justify="right" if numeric else "left", no_wrap=index == 0)
    emphasized = table.emphasized or [False] * len(table.rows)
    for cells, is_target in zip(table.rows, emphasized, strict=True):
        first = f"▶ {cells[0]}" if is_target else cells[0]
        view.add_row(
            *(Text(cell) for cell in [first, *cells[1:]]), style="bold" if is_target else None
        )
    return view


def _without_column(table: TextTable, name: str) -> TextTable:
    keep = [i for i, column in enumerate(table.columns) if column != name]
    return TextTable(
        [table.columns[i] for i in keep],
        [[row[i] for i in keep] for row in table.rows],
        table.emphasized,
    )
