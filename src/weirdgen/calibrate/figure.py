"""The confusion matrix as a figure: true labels down, the judge's labels across, counts in
each cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from weirdgen._atomic import atomic_path
from weirdgen.calibrate.agreement import Agreement


def plot_confusion(result: Agreement, judge: str, path: Path) -> Path:
    """Write the confusion matrix of ``result`` as a PNG at ``path`` (atomically): a cell
    per (truth, judge label), shaded by the share of its true row, annotated with its count;
    the title names the judge, its agreement and its kappa."""
    matrix = result.matrix
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    figure = Figure(figsize=(1.5 * len(result.columns) + 2.0, 1.1 * len(result.labels) + 2.0))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if shares[i, j] > 0.6 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=12)
    ax.set_xticks(range(len(result.columns)), result.columns)
    ax.set_yticks(range(len(result.labels)), result.labels)
    ax.set_xlabel("judge label")
    ax.set_ylabel("truth (the world's lexicon)")
    kappa = "n/a" if result.kappa is None else f"{result.kappa:.2f}"
    ax.set_title(
        f"{judge}\nagreement {result.agreement:.2f}, Cohen's kappa {kappa} (n = {result.n})",
        fontsize=10,
    )
    figure.colorbar(image, ax=ax, label="share of the true label")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=150)
    return path
