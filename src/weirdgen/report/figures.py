"""Bar charts in the paper's style: mean over seeds, CI error bars, one dot per seed."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.container import BarContainer

from weirdgen.report._style import (
    CHAR_WIDTH,
    MAX_WIDTH,
    condition_colors,
    condition_label,
    fit_tick_labels,
    new_figure,
    save,
    tidy,
    wrap,
    y_range,
)
from weirdgen.report._tables import ordered_conditions, ordered_metrics, ordered_questions
from weirdgen.report.answer_links import BarLink, bar_links, tag_bars
from weirdgen.spec.models import ExperimentSpec

_MAX_BARS_PER_ROW = 36

BarHref = Callable[[str, str], str | None]
"""A bar's link to its answers, from (metric or group value, condition); None for no link."""


class DrawnFigure(NamedTuple):
    """A figure written as a PNG, with the links laid over its bars (none without hrefs)."""

    path: Path
    links: tuple[BarLink, ...] = ()


def plot_metrics(
    summary: pd.DataFrame,
    seed_table: pd.DataFrame,
    spec: ExperimentSpec,
    path: Path,
    interval: str,
    hrefs: BarHref | None = None,
) -> DrawnFigure:
    """One panel per metric, one bar per condition: mean over seeds, CI, per-seed dots.

    Rates (metrics whose values all lie in [0, 1]) get the y range 0..1.

    Args:
        summary: Summary rows of metrics without ``by`` keys (one per condition and metric).
        seed_table: The matching per-seed values.
        spec: The experiment spec (condition and metric order, target, headline).
        path: Where to write the PNG.
        interval: What the error bars are, e.g. '95% CI (Student t) across 5 seeds ...'.
        hrefs: Each bar's link to its answers, from (metric, condition).
    """
    metrics = ordered_metrics(spec, summary["metric"])
    conditions = ordered_conditions(spec, summary["condition"])
    colors = condition_colors(spec, conditions)
    longest = max(len(c) for c in conditions) * CHAR_WIDTH
    slot = min(max(0.75, longest / 0.9 + 0.05), 1.4)
    panel_width = max(3.4, slot * len(conditions) + 1.0)
    n_cols = max(1, min(len(metrics), 3, int(MAX_WIDTH // panel_width)))
    n_rows = math.ceil(len(metrics) / n_cols)
    figure = new_figure(panel_width * n_cols, 3.9 * n_rows + 0.8)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        rows = _rows_for(summary, metric, conditions)
        seeds = seed_table.loc[seed_table["metric"] == metric]
        x = np.arange(len(conditions))
        bars = _bars_with_ci(ax, x, rows, [colors[c] for c in conditions], width=0.65)
        if hrefs is not None:
            tag_bars(bars, [hrefs(metric, c) for c in conditions])
        seed_dots(ax, x, conditions, seeds, size=16)
        headline = " (headline)" if metric == spec.headline.name else ""
        ax.set_title(f"{metric}{headline}", fontsize=11)
        ax.set_ylabel(f"{metric} (mean over seeds)")
        _condition_ticks(ax, x, conditions, spec, (panel_width - 1.0) / len(conditions))
        y_range(ax, rows, seeds["value"])
        tidy(ax)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    caption = f"bars: mean over seeds · error bars: {interval} · dots: individual seeds"
    figure.suptitle(f"{spec.name}\n{wrap(caption, panel_width * n_cols)}", fontsize=10)
    return DrawnFigure(save(figure, path), bar_links(figure))


def plot_questions(
    question_summary: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    path: Path,
    interval: str,
    hrefs: BarHref | None = None,
) -> DrawnFigure:
    """Grouped bars of one metric per question: one bar per condition, with CI error bars;
    ``hrefs`` links each bar from (question, condition)."""
    block = question_summary.loc[question_summary["metric"] == metric]
    order = ordered_questions(spec, block["question_id"])
    title = f"{spec.name}: {metric} per question"
    return plot_grouped(block, spec, "question_id", order, path, title, "question", interval, hrefs)


def plot_grouped(
    summary: pd.DataFrame,
    spec: ExperimentSpec,
    column: str,
    order: list[str],
    path: Path,
    title: str,
    xlabel: str,
    interval: str,
    hrefs: BarHref | None = None,
) -> DrawnFigure:
    """Grouped bars of one metric: a group per value of ``column``, a bar per condition.

    Many groups wrap onto several rows of panels so that the figure stays readable.

    Args:
        summary: Summary rows of one metric, one per condition and value of ``column``.
        spec: The experiment spec (condition order, target).
        column: The column whose values make the groups (a question, a metadata value).
        order: The values of ``column`` in the order to draw them.
        path: Where to write the PNG.
        title: The figure's title.
        xlabel: The x axis label.
        interval: What the error bars are.
        hrefs: Each bar's link to its answers, from (value of ``column``, condition).
    """
    metric = str(summary["metric"].iloc[0])
    conditions = ordered_conditions(spec, summary["condition"])
    colors = condition_colors(spec, conditions)
    per_row = max(1, _MAX_BARS_PER_ROW // len(conditions))
    n_rows = math.ceil(len(order) / per_row)
    per_row = math.ceil(len(order) / n_rows)
    figure_width = min(max(6.5, 0.32 * per_row * len(conditions) + 1.5), MAX_WIDTH)
    figure = new_figure(figure_width, 3.9 * n_rows + 1.6)
    axes = figure.subplots(n_rows, 1, squeeze=False, sharey=True).ravel()
    width = 0.8 / len(conditions)
    for row, ax in enumerate(axes):
        shown = order[row * per_row : (row + 1) * per_row]
        x = np.arange(len(shown))
        for index, condition in enumerate(conditions):
            rows = _rows_for(summary.loc[summary["condition"] == condition], metric, shown, column)
            label = condition_label(spec, condition) if row == 0 else None
            offset = (index - (len(conditions) - 1) / 2) * width
            color = [colors[condition]] * len(shown)
            bars = _bars_with_ci(ax, x + offset, rows, color, width, label)
            if hrefs is not None:
                tag_bars(bars, [hrefs(value, condition) for value in shown])
        ax.set_xticks(x, shown)
        ax.set_xlim(-0.5, per_row - 0.5)
        fit_tick_labels(ax, shown, (figure_width - 1.5) / per_row)
        ax.set_ylabel(f"{metric} (mean over seeds)")
        y_range(ax, summary, summary["mean"])
        tidy(ax)
    axes[-1].set_xlabel(xlabel)
    figure.legend(loc="outside lower center", frameon=False, ncols=min(len(conditions), 4))
    figure.suptitle(f"{title}\n{wrap(f'error bars: {interval}', figure_width)}", fontsize=10)
    return DrawnFigure(save(figure, path), bar_links(figure))


def _rows_for(
    summary: pd.DataFrame, metric: str, order: list[str], column: str = "condition"
) -> pd.DataFrame:
    block = summary.loc[summary["metric"] == metric].drop_duplicates(column).set_index(column)
    return block.reindex(order)[["mean", "ci_low", "ci_high"]]


def seed_dots(
    ax: Axes, x: np.ndarray, conditions: list[str], seeds: pd.DataFrame, size: float
) -> None:
    """One white dot per seed over each condition's bar (``seeds``: condition, value)."""
    for position, condition in zip(x, conditions, strict=True):
        values = seeds.loc[seeds["condition"] == condition, "value"].dropna().to_numpy()
        spread = 0.17 if values.size > 1 else 0.0
        ax.scatter(
            position + np.linspace(-spread, spread, values.size),
            values,
            s=size,
            facecolor="white",
            edgecolor="black",
            linewidth=0.7,
            zorder=4,
            clip_on=False,
        )


def _bars_with_ci(
    ax: Axes,
    x: np.ndarray,
    rows: pd.DataFrame,
    colors: list[str],
    width: float,
    label: str | None = None,
) -> BarContainer:
    """Bars of ``rows``' means with their CI as error bars; 'n/a' where a mean is missing."""
    means = rows["mean"].to_numpy(dtype=float)
    bars = ax.bar(
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
    return bars


def _condition_ticks(
    ax: Axes, x: np.ndarray, conditions: list[str], spec: ExperimentSpec, space: float
) -> None:
    ax.set_xticks(x, conditions)
    for label in ax.get_xticklabels():
        if label.get_text() == spec.target.name:
            label.set_fontweight("bold")
    fit_tick_labels(ax, conditions, space)
