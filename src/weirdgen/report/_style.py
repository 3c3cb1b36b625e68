"""The figures' shared look: condition colours, sizes, tidy axes and atomic PNG saving.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so no
pyplot state or interactive backend is touched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from weirdgen._atomic import atomic_path
from weirdgen.spec.models import ExperimentSpec

TARGET_COLOR = "#c0392b"
CONTROL_COLORS = ("#2e86c1", "#7f8c8d", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#34495e")
DPI = 150
MAX_WIDTH = 16.0
"""Widest figure in inches; wider content wraps onto more rows."""
CHAR_WIDTH = 0.085
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


def condition_label(spec: ExperimentSpec, condition: str) -> str:
    """The condition's legend entry; the target says so."""
    return f"{condition} (target)" if condition == spec.target.name else condition


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches with the Agg canvas attached."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def fit_tick_labels(ax: Axes, labels: list[str], space: float) -> None:
    """Slant the tick labels when the longest would not fit in ``space`` inches."""
    if max((len(label) for label in labels), default=0) * CHAR_WIDTH <= 0.9 * space:
        return
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def y_range(ax: Axes, rows: pd.DataFrame, values: pd.Series) -> None:
    """The y range 0..1 when every mean, bound and seed value is a rate in [0, 1]."""
    numbers = np.concatenate(
        [rows[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel(), values.to_numpy(float)]
    )
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0 or ((numbers >= 0) & (numbers <= 1)).all():
        ax.set_ylim(0, 1)
        ax.set_yticks(np.linspace(0, 1, 6))


def tidy(ax: Axes, grid: str = "y") -> None:
    """Paper style: no top or right spine, a light grid behind the data."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid, color="0.88", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (a temporary name, then a rename)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI)
    return path


def wrap(text: str, width_inches: float, fontsize: float = 10) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``fontsize`` points."""
    characters = max(20, int(width_inches / (CHAR_WIDTH * fontsize / 10)))
    return "\n".join(textwrap.fill(line, characters) for line in text.splitlines())
