"""The share of each label a label judge gave, per condition: stacked bars, as the paper
shows its six-way judge of the bird answers.

Shares are computed per seed (the unit of replication) among the answers the judge labelled,
then averaged over seeds; only the models at the end of finetuning count.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd

from weirdgen.report._style import condition_label, new_figure, save, tidy, wrap
from weirdgen.report._tables import ordered_conditions
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats.metrics import final_samples


def label_scorers(spec: ExperimentSpec) -> dict[str, list[str]]:
    """Label judges with more than two labels, by scorer name, with their labels."""
    found = {}
    for scorer in spec.scorers:
        labels = getattr(scorer.args, "labels", None)
        if labels and len(labels) > 2 and "label" in scorer.args.outputs():
            found[scorer.name] = list(labels)
    return found


def label_shares(samples: pd.DataFrame, scorer: str, labels: list[str]) -> pd.DataFrame:
    """One row per condition: the mean over seeds of each label's share among the labelled
    answers (columns in ``labels`` order), and ``seeds``."""
    column = f"{scorer}_label"
    rows = final_samples(samples)
    if column not in rows:
        return pd.DataFrame(columns=["condition", *labels, "seeds"])
    rows = rows.loc[rows[column].notna(), ["condition", "seed", column]]
    counts = pd.crosstab([rows["condition"], rows["seed"]], rows[column])
    counts = counts.reindex(columns=labels, fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    table = shares.groupby(level="condition").mean()
    table["seeds"] = shares.groupby(level="condition").size()
    return table.reset_index()


def plot_label_shares(
    samples: pd.DataFrame, spec: ExperimentSpec, scorer: str, labels: list[str], path: Path
) -> Path:
    """Stacked bars of each label's share per condition (mean over seeds)."""
    table = label_shares(samples, scorer, labels).set_index("condition")
    order = [c for c in ordered_conditions(spec, list(table.index))]
    table = table.reindex(order)
    figure = new_figure(max(4.0, 1.2 * len(order) + 2.5), 4.0)
    ax = figure.add_subplot()
    palette = matplotlib.colormaps["tab10"]
    bottom = pd.Series(0.0, index=table.index)
    for i, label in enumerate(labels):
        values = table[label].fillna(0.0)
        ax.bar(range(len(order)), values, bottom=bottom, color=palette(i % 10), label=label)
        bottom += values
    ax.set_xticks(range(len(order)), [condition_label(spec, c) for c in order])
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of labelled answers ({scorer})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    tidy(ax)
    caption = f"{scorer}: share of each label per condition, mean over seeds"
    figure.suptitle(f"{spec.name}\n{wrap(caption, 6.0)}", fontsize=10)
    return save(figure, path)
