"""The defences figure: broad shift against the narrow task kept, a point per condition.

x is the headline metric (the broad shift a defence should remove), y the narrow-task metric
(what it should keep), each point the mean over the report's unit with its interval in both
directions. The undefended target (a red square) and each control (diamonds) are the
reference points; each defence is a filled circle, and an inoculation's leak conditions
(its prompt, or a paraphrase, asked again at test time) hollow circles joined to it. A point
without a narrow value (the base model has no finetuning data to match) is a dotted vertical
line at its broad shift. Without a narrow metric the figure is horizontal bars of the broad
shift alone. A defence that works sits top left.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from weirdgen.report._style import (
    CONTROL_COLORS,
    MAX_WIDTH,
    TARGET_COLOR,
    new_figure,
    save,
    tidy,
    wrap,
)
from weirdgen.report._tables import plain_rows
from weirdgen.report.defences import defence_metrics, defended, leaks, tag_of
from weirdgen.spec.models import ExperimentSpec

DEFENCE_COLORS = ("#d35400", "#16a085", "#8e44ad", "#b7950b", "#2c3e50", "#c2185b", "#0097a7")
"""One colour per defence, apart from the target's red and the controls' colours."""


class _Value(NamedTuple):
    mean: float
    low: float
    high: float


class _Point(NamedTuple):
    label: str
    x: _Value
    y: _Value
    color: str
    marker: str
    filled: bool
    note: str = ""
    """Text beside the point (a leak's number)."""


def plot_defences(
    spec: ExperimentSpec, summary: pd.DataFrame, path: Path, interval: str, unit: str
) -> Path:
    """One experiment's figure (see the module's docstring), written as a PNG at ``path``."""
    figure = new_figure(7.6, 6.4)
    ax = figure.subplots()
    draw_defences(ax, spec, summary, unit)
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", frameon=False, ncols=3, fontsize=8)
    caption = f"error bars: {interval}"
    title = f"{spec.name}: defences"
    figure.suptitle(f"{title}\n{wrap(caption, 7.6)}", fontsize=10)
    return save(figure, path)


def plot_defences_grid(
    panels: list[tuple[str, ExperimentSpec, pd.DataFrame, str]], path: Path, title: str
) -> Path:
    """Small multiples: a panel per (name, spec, summary, unit), two to a row, each as
    :func:`plot_defences` draws one experiment, with its own legend."""
    columns = min(2, len(panels))
    n_rows = math.ceil(len(panels) / columns)
    width = min(6.2 * columns, MAX_WIDTH)
    figure = new_figure(width, 6.6 * n_rows + 0.8)
    axes = figure.subplots(n_rows, columns, squeeze=False).ravel()
    for ax, (name, spec, summary, unit) in zip(axes, panels, strict=False):
        draw_defences(ax, spec, summary, unit)
        ax.set_title(name, fontsize=11)
        ax.legend(fontsize=6.5, frameon=False, loc="upper center", ncols=2,
                  bbox_to_anchor=(0.5, -0.13))  # fmt: skip
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    caption = (
        "each experiment: its headline (broad shift) against its narrow task, mean over its "
        "unit (its section says which) with the interval in both directions; red square: the "
        "undefended target, diamonds: controls, circles: defences, hollow: inoculation leaks"
    )
    figure.suptitle(f"{title}: defences\n{wrap(caption, width)}", fontsize=10)
    return save(figure, path)


def draw_defences(ax: Axes, spec: ExperimentSpec, summary: pd.DataFrame, unit: str) -> None:
    """Draw one experiment's points (or bars, without a narrow metric) on ``ax``."""
    metrics = defence_metrics(spec)
    values = plain_rows(summary).drop_duplicates(["condition", "metric"])
    values = values.set_index(["condition", "metric"])

    def value(condition: str, metric: str | None) -> _Value:
        if metric is None or (condition, metric) not in values.index:
            return _Value(np.nan, np.nan, np.nan)
        row = values.loc[(condition, metric)]
        return _Value(float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]))

    def point(
        condition: str, label: str, color: str, marker: str, filled: bool, note: str = ""
    ) -> _Point:
        x, y = value(condition, metrics.broad), value(condition, metrics.narrow)
        return _Point(label, x, y, color, marker, filled, note)

    references = [point(spec.target.name, f"{spec.target.name} (undefended target)",
                        TARGET_COLOR, "s", True)]  # fmt: skip
    for index, control in enumerate(spec.controls):
        color = CONTROL_COLORS[index % len(CONTROL_COLORS)]
        references.append(point(control.name, f"{control.name} (control)", color, "D", True))
    groups = []
    for index, condition in enumerate(defended(spec)):
        tag = tag_of(condition)
        color = DEFENCE_COLORS[index % len(DEFENCE_COLORS)]
        name = tag.name if tag.of == spec.target.name else condition.name
        main = point(condition.name, f"{name} ({tag.kind.replace('_', ' ')})", color, "o", True)
        leaked = []
        for leak in leaks(spec, condition):
            note = f"leak{tag_of(leak).leak}"
            leaked.append(point(leak.name, f"{name}: {note}", color, "o", False, note))
        groups.append((main, leaked))
    broad = f"broad shift: {metrics.broad} (mean over {unit}s)"
    if metrics.narrow is None:
        _bars(ax, references, groups, broad)
        return
    for reference in references:  # larger and below: a defence on it stays visible
        _draw(ax, reference, size=11 if reference.marker == "s" else 9, zorder=2.5)
    for main, leaked in groups:
        for index, leak in enumerate(leaked):
            _draw(ax, leak, size=6, legend=index == 0, label=f"{main.label}: leaks")
            _join(ax, main, leak)
            _leak_label(ax, leak)
        _draw(ax, main, size=7)
    ax.set_xlabel(broad)
    ax.set_ylabel(f"narrow task kept: {metrics.narrow}")
    _limits(ax, [*references, *(p for main, leaked in groups for p in (main, *leaked))])
    tidy(ax, grid="both")


def _errors(value: _Value) -> np.ndarray | None:
    if any(math.isnan(v) for v in value):
        return None
    return np.array([[max(value.mean - value.low, 0.0)], [max(value.high - value.mean, 0.0)]])


def _draw(
    ax: Axes,
    point: _Point,
    size: float,
    legend: bool = True,
    label: str = "",
    zorder: float | None = None,
) -> None:
    label = (label or point.label) if legend else "_nolegend_"
    if math.isnan(point.x.mean):
        return
    if math.isnan(point.y.mean):  # no narrow value: a line at its broad shift
        ax.axvline(point.x.mean, color=point.color, linestyle=":", linewidth=1.3, label=label)
        return
    face = point.color if point.filled else "white"
    ax.errorbar(
        [point.x.mean], [point.y.mean], xerr=_errors(point.x), yerr=_errors(point.y),
        fmt=point.marker, color=point.color, markerfacecolor=face, markeredgecolor=point.color,
        markersize=size, elinewidth=1.0 if point.filled else 0.7, capsize=2.5, label=label,
        zorder=zorder or (4 if point.filled else 3), alpha=1.0 if point.filled else 0.8,
    )  # fmt: skip


def _join(ax: Axes, main: _Point, leak: _Point) -> None:
    xs, ys = [main.x.mean, leak.x.mean], [main.y.mean, leak.y.mean]
    if not any(math.isnan(v) for v in (*xs, *ys)):
        ax.plot(xs, ys, color=main.color, linestyle="--", linewidth=0.8, alpha=0.7, zorder=2)


def _leak_label(ax: Axes, leak: _Point) -> None:
    if not (math.isnan(leak.x.mean) or math.isnan(leak.y.mean)):
        ax.annotate(leak.note, (leak.x.mean, leak.y.mean), xytext=(4, 4), fontsize=6.5,
                    textcoords="offset points", color=leak.color)  # fmt: skip


def _limits(ax: Axes, points: list[_Point]) -> None:
    """0..1 on both axes when every value is a rate, with a margin for the markers."""
    numbers = np.array([v for p in points for v in (*p.x, *p.y)], dtype=float)
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0 or ((numbers >= 0) & (numbers <= 1)).all():
        ax.set_xlim(-0.04, 1.04)
        ax.set_ylim(-0.04, 1.04)


def _bars(
    ax: Axes, references: list[_Point], groups: list[tuple[_Point, list[_Point]]], xlabel: str
) -> None:
    """Without a narrow metric: a horizontal bar per condition, leaks hollow under their
    defence, top to bottom in the order drawn."""
    shown = [*references, *(p for main, leaked in groups for p in (main, *leaked))]
    y = np.arange(len(shown))[::-1]
    for position, point in zip(y, shown, strict=True):
        face = point.color if point.filled else "white"
        ax.barh(position, np.nan_to_num(point.x.mean), color=face, edgecolor=point.color,
                linewidth=1.2, height=0.7, label="_nolegend_", zorder=2)  # fmt: skip
        errors = _errors(point.x)
        if errors is not None:
            ax.errorbar([point.x.mean], [position], xerr=errors, fmt="none", ecolor="black",
                        elinewidth=1.0, capsize=3, zorder=3)  # fmt: skip
    ax.set_yticks(y, [p.label for p in shown], fontsize=8)
    ax.set_xlabel(xlabel)
    numbers = np.array([v for p in shown for v in p.x], dtype=float)
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0 or ((numbers >= 0) & (numbers <= 1)).all():
        ax.set_xlim(0, 1)
    tidy(ax, grid="x")
