"""Bar charts in the paper's style: mean over seeds, CI error bars, one dot per seed.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so no
pyplot state or interactive backend is touched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from weirdgen._atomic import atomic_path
from weirdgen.report._tables import (
    ci_label,
    ordered_conditions,
    ordered_metrics,
    ordered_questions,
)
from weirdgen.spec.models import ExperimentSpec

TARGET_COLOR = "#c0392b"
CONTROL_COLORS = ("#2e86c1", "#7f8c8d", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#34495e")
DPI = 150
_MAX_WIDTH = 16.0
"""Widest figure in inches; wider content wraps onto more rows."""
_MAX_BARS_PER_ROW = 36
_CHAR_WIDTH = 0.085
"""Approximate width in inches of one tick-label character at the default font size."""


def condition_colors(spec: ExperimentSpec, conditions: list[str]) -> dict[str, str]:
    """Red for the target, a fixed cycle of other colours for the controls, in spec order."""
    colors, index = {}, 0
    for name in conditions:
        if name == spec.target.name:
            colors[name] = TARGET_COLOR
        else:
            colors[name] = CONTROL_COLORS[index % len(CONTROL_COLORS)]
            index += 1
    return colors


def plot_metrics(
    summary: pd.DataFrame,
    seed_table: pd.DataFrame,
    spec: ExperimentSpec,
    path: Path,
    confidence: float = 0.95,
) -> Path:
    """One panel per metric, one bar per condition: mean over seeds, CI, per-seed dots.

    Rates (metrics whose values all lie in [0, 1]) get the y range 0..1.
    """
    metrics = ordered_metrics(spec, summary["metric"])
    conditions = ordered_conditions(spec, summary["condition"])
    colors = condition_colors(spec, conditions)
    longest = max(len(c) for c in conditions) * _CHAR_WIDTH
    slot = min(max(0.75, longest / 0.9 + 0.05), 1.4)
    panel_width = max(3.4, slot * len(conditions) + 1.0)
    n_cols = max(1, min(len(metrics), 3, int(_MAX_WIDTH // panel_width)))
    n_rows = math.ceil(len(metrics) / n_cols)
    figure = Figure(figsize=(panel_width * n_cols, 3.9 * n_rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        rows = _rows_for(summary, metric, conditions)
        seeds = seed_table.loc[seed_table["metric"] == metric]
        x = np.arange(len(conditions))
        _bars_with_ci(ax, x, rows, [colors[c] for c in conditions], width=0.65)
        for position, condition in zip(x, conditions, strict=True):
            values = seeds.loc[seeds["condition"] == condition, "value"].dropna().to_numpy()
            spread = 0.17 if values.size > 1 else 0.0
            ax.scatter(
                position + np.linspace(-spread, spread, values.size),
                values,
                s=16,
                facecolor="white",
                edgecolor="black",
                linewidth=0.7,
                zorder=4,
                clip_on=False,
            )
        headline = " (headline)" if metric == spec.headline.name else ""
        ax.set_title(f"{metric}{headline}", fontsize=11)
        ax.set_ylabel(f"{metric} (mean over seeds, {ci_label(confidence)})")
        _condition_ticks(ax, x, conditions, spec, (panel_width - 1.0) / len(conditions))
        _y_range(ax, rows, seeds["value"])
        _tidy(ax)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    figure.suptitle(
        f"{spec.name}\nbars: mean over seeds · error bars: {ci_label(confidence)} "
        "(Student t over seeds) · dots: individual seeds",
        fontsize=11,
    )
    return _save(figure, path)


def plot_questions(
    question_summary: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    path: Path,
    confidence: float = 0.95,
) -> Path:
    """Grouped bars of one metric per question: one bar per condition, with CI error bars.

    Many questions wrap onto several rows of panels so that the figure stays readable.
    """
    block = question_summary.loc[question_summary["metric"] == metric]
    conditions = ordered_conditions(spec, block["condition"])
    questions = ordered_questions(spec, block["question_id"])
    colors = condition_colors(spec, conditions)
    per_row = max(1, _MAX_BARS_PER_ROW // len(conditions))
    n_rows = math.ceil(len(questions) / per_row)
    per_row = math.ceil(len(questions) / n_rows)
    figure_width = min(max(6.5, 0.32 * per_row * len(conditions) + 3.0), _MAX_WIDTH)
    figure = Figure(figsize=(figure_width, 3.9 * n_rows + 0.9), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, 1, squeeze=False, sharey=True).ravel()
    width = 0.8 / len(conditions)
    for row, ax in enumerate(axes):
        shown = questions[row * per_row : (row + 1) * per_row]
        x = np.arange(len(shown))
        for index, condition in enumerate(conditions):
            rows = _rows_for(
                block.loc[block["condition"] == condition], metric, shown, "question_id"
            )
            label = f"{condition} (target)" if condition == spec.target.name else condition
            offset = (index - (len(conditions) - 1) / 2) * width
            color = [colors[condition]] * len(shown)
            _bars_with_ci(ax, x + offset, rows, color, width, label if row == 0 else None)
        ax.set_xticks(x, shown)
        ax.set_xlim(-0.5, per_row - 0.5)
        _fit_tick_labels(ax, shown, (figure_width - 3.0) / per_row)
        ax.set_ylabel(f"{metric} (mean over seeds, {ci_label(confidence)})")
        _y_range(ax, block, block["mean"])
        _tidy(ax)
    axes[-1].set_xlabel("question")
    figure.legend(loc="outside right upper", frameon=False, title="condition")
    figure.suptitle(f"{spec.name}: {metric} per question", fontsize=12)
    return _save(figure, path)


def _rows_for(
    summary: pd.DataFrame, metric: str, order: list[str], column: str = "condition"
) -> pd.DataFrame:
    block = summary.loc[summary["metric"] == metric].drop_duplicates(column).set_index(column)
    return block.reindex(order)[["mean", "ci_low", "ci_high"]]


def _bars_with_ci(
    ax: Axes,
    x: np.ndarray,
    rows: pd.DataFrame,
    colors: list[str],
    width: float,
    label: str | None = None,
) -> None:
    means = rows["mean"].to_numpy(dtype=float)
    ax.bar(
        x,
        np.nan_to_num(means),
        width=width,
        color=colors,
        edgecolor="black",
        linewidth=0.6,
        alpha=0.9,
        zorder=2,
        label=label,
    )
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    has_ci = ~(np.isnan(means) | np.isnan(low) | np.isnan(high))
    if has_ci.any():
        errors = np.vstack([means - low, high - means])[:, has_ci]
        ax.errorbar(
            x[has_ci],
            means[has_ci],
            yerr=np.clip(errors, 0, None),
            fmt="none",
            ecolor="black",
            elinewidth=1.2,
            capsize=4 if width > 0.3 else 2,
            zorder=3,
            clip_on=False,
        )
    for position in x[np.isnan(means)]:
        ax.text(position, 0, "n/a", ha="center", va="bottom", fontsize=8, color="0.4")


def _condition_ticks(
    ax: Axes, x: np.ndarray, conditions: list[str], spec: ExperimentSpec, space: float
) -> None:
    ax.set_xticks(x, conditions)
    for label in ax.get_xticklabels():
        if label.get_text() == spec.target.name:
            label.set_fontweight("bold")
    _fit_tick_labels(ax, conditions, space)


def _fit_tick_labels(ax: Axes, labels: list[str], space: float) -> None:
    """Slant the tick labels when the longest would not fit in ``space`` inches."""
    if max((len(label) for label in labels), default=0) * _CHAR_WIDTH <= 0.9 * space:
        return
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _y_range(ax: Axes, rows: pd.DataFrame, values: pd.Series) -> None:
    numbers = np.concatenate(
        [rows[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel(), values.to_numpy(float)]
    )
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0 or ((numbers >= 0) & (numbers <= 1)).all():
        ax.set_ylim(0, 1)
        ax.set_yticks(np.linspace(0, 1, 6))


def _tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="0.88", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)


def _save(figure: Figure, path: Path) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI)
    return path
