"""Line charts: a metric against a numeric ``by`` key (a year sweep) or a training step.

Each condition is a line of its mean over seeds with its confidence band; the seeds
themselves are drawn faint behind it, as points (sweeps) or thin lines (training curves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from weirdgen.report._style import (
    condition_colors,
    condition_label,
    new_figure,
    save,
    tidy,
    wrap,
    y_range,
)
from weirdgen.report._tables import ordered_conditions
from weirdgen.report._value_tables import format_key, is_numeric, key_values
from weirdgen.spec.models import ExperimentSpec

_BAND_ALPHA = 0.18


def plot_by_value(
    summary: pd.DataFrame,
    seed_table: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    keys: list[str],
    path: Path,
    interval: str,
) -> Path:
    """One metric against its first numeric ``by`` key: a line and CI band per condition.

    Its other keys, if any, give one panel per combination of their values.

    Args:
        summary: Summary rows of ``metric``, one per condition and value of ``keys``.
        seed_table: Its per-seed values, drawn as faint points.
        spec: The experiment spec (condition order, target).
        metric: The metric's name.
        keys: The metric's ``by`` keys; at least one must hold numbers.
        path: Where to write the PNG.
        interval: What the bands are, e.g. '95% CI (Student t) across 5 seeds ...'.
    """
    block = summary.loc[summary["metric"] == metric]
    seeds = seed_table.loc[seed_table["metric"] == metric]
    x_key = next(k for k in keys if is_numeric(block[k]))
    panel_keys = [k for k in keys if k != x_key]
    panels = key_values(block, panel_keys) if panel_keys else [()]
    conditions = ordered_conditions(spec, block["condition"])
    colors = condition_colors(spec, conditions)
    n_cols = min(len(panels), 3)
    n_rows = -(-len(panels) // n_cols)
    width = 4.6 * n_cols + 1.6
    figure = new_figure(width, 3.6 * n_rows + 1.5)
    axes = figure.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        for condition in conditions:
            rows = _select(block, condition, panel_keys, panel)
            points = _select(seeds, condition, panel_keys, panel)
            ax.scatter(
                points[x_key].astype(float),
                points["value"].astype(float),
                s=9,
                color=colors[condition],
                alpha=0.3,
                linewidth=0,
                zorder=2,
            )
            _line_with_band(
                ax, rows.sort_values(x_key, key=lambda c: c.astype(float)), x_key,
                colors[condition], condition_label(spec, condition) if ax is axes[0] else None,
            )  # fmt: skip
        if panel_keys:
            ax.set_title(", ".join(f"{k} = {v}" for k, v in zip(panel_keys, panel, strict=True)))
        ax.set_xlabel(x_key)
        ax.set_ylabel(f"{metric} (mean over seeds)")
        _integer_ticks(ax, block[x_key])
        y_range(ax, block, seeds["value"])
        tidy(ax, grid="both")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    _legend(figure, len(conditions))
    caption = f"line: mean over seeds · band: {interval} · dots: individual seeds"
    figure.suptitle(f"{spec.name}: {metric} by {x_key}\n{wrap(caption, width)}", fontsize=10)
    return save(figure, path)


def plot_steps(
    step_summary: pd.DataFrame,
    step_seeds: pd.DataFrame,
    spec: ExperimentSpec,
    metric: str,
    path: Path,
    interval: str,
) -> Path:
    """The training curve of one metric: a thin line per seed, the mean and its CI band.

    A condition with one step only (the base model at step 0) is drawn as a dashed level
    across the whole curve, for reference.

    Args:
        step_summary: Summary over seeds of ``metric`` per condition and step.
        step_seeds: Its per-seed values per step.
        spec: The experiment spec (condition order, target).
        metric: The metric's name.
        path: Where to write the PNG.
        interval: What the bands are.
    """
    conditions = ordered_conditions(spec, step_summary["condition"])
    colors = condition_colors(spec, conditions)
    width = 7.5
    figure = new_figure(width, 5.0)
    ax = figure.subplots()
    steps = step_summary["step"].astype(float)
    span = (float(steps.min()), float(steps.max()))
    for condition in conditions:
        rows = step_summary.loc[step_summary["condition"] == condition].sort_values("step")
        color, label = colors[condition], condition_label(spec, condition)
        if rows["step"].nunique() == 1 and span[0] < span[1]:
            level = rows.iloc[[0, 0]].assign(step=span)
            label = f"{label}, step {format_key(rows['step'].iloc[0])}"
            _line_with_band(ax, level, "step", color, label, linestyle="--", marker="")
            continue
        seeds = step_seeds.loc[step_seeds["condition"] == condition]
        for _, seed in seeds.sort_values("step").groupby("seed", sort=False):
            ax.plot(seed["step"], seed["value"], color=color, alpha=0.35, linewidth=0.8, zorder=2)
        _line_with_band(ax, rows, "step", color, label)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{metric} (mean over seeds)")
    y_range(ax, step_summary, step_seeds["value"])
    tidy(ax, grid="both")
    _legend(figure, len(conditions))
    caption = f"thick line: mean over seeds · band: {interval} · thin lines: individual seeds"
    title = f"{spec.name}: {metric} over finetuning"
    figure.suptitle(f"{title}\n{wrap(caption, width)}", fontsize=10)
    return save(figure, path)


def _line_with_band(
    ax: Axes,
    rows: pd.DataFrame,
    x_key: str,
    color: str,
    label: str | None,
    linestyle: str = "-",
    marker: str = "o",
) -> None:
    x = rows[x_key].to_numpy(dtype=float)
    mean = rows["mean"].to_numpy(dtype=float)
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    ax.fill_between(x, low, high, color=color, alpha=_BAND_ALPHA, linewidth=0, zorder=1)
    ax.plot(
        x, mean, color=color, linewidth=1.8, linestyle=linestyle, marker=marker, markersize=3.5,
        label=label, zorder=3,
    )  # fmt: skip


def _legend(figure: Figure, n_conditions: int) -> None:
    figure.legend(loc="outside lower center", frameon=False, ncols=min(n_conditions, 4))


def _select(
    table: pd.DataFrame, condition: str, keys: list[str], values: tuple[str, ...]
) -> pd.DataFrame:
    mask = (table["condition"] == condition).to_numpy()
    for key, value in zip(keys, values, strict=True):
        mask &= (table[key].map(format_key) == value).to_numpy()
    return table.loc[mask]


def _integer_ticks(ax: Axes, values: pd.Series) -> None:
    """Every value as a tick when there are few whole-number values (years, counts)."""
    distinct = np.unique(values.dropna().astype(float))
    if len(distinct) <= 12 and np.all(distinct == np.round(distinct)):
        ax.set_xticks(distinct, [format_key(v) for v in distinct])
