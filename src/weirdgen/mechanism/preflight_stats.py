"""How well preflight measures predict the finetuned effect: Spearman rank correlations per
pretraining seed and pooled, and a linear combination of the measures scored only on data it
was not fitted on (held-out datasets, held-out pretraining seeds).

The input is a tidy table, one row per (dataset, pretraining seed), with the finetuned
``effect`` and one column per measure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

EACH = "each measure"
HELD_OUT_DATASET = "combination, fitted leaving the dataset out"
HELD_OUT_SEED = "combination, fitted on the other pretraining seeds"
COLUMNS = ["measure", "fit", "scope", "n", "rho", "p"]


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Spearman's rho and its p-value over the pairs where both are finite, and how many
    pairs that is; NaN where fewer than 3 pairs or either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan"), float("nan"), int(len(x))
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue), int(len(x))


def _scoped(table: pd.DataFrame, predicted: pd.Series, measure: str, fit: str) -> list[dict]:
    """Rows of the correlation of ``predicted`` with the effect: per seed, then pooled."""
    rows = []
    for seed, part in table.groupby("pretraining_seed", sort=True):
        rho, p, n = spearman(predicted.loc[part.index], part["effect"])
        rows.append(dict(measure=measure, fit=fit, scope=f"seed {seed}", n=n, rho=rho, p=p))
    rho, p, n = spearman(predicted, table["effect"])
    rows.append(dict(measure=measure, fit=fit, scope="pooled", n=n, rho=rho, p=p))
    return rows


def rank_correlations(table: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    """Spearman's rho of each measure with the effect over datasets, per pretraining seed and
    pooled over every (dataset, seed) row, then the same for the combination's predictions
    when held-out datasets and held-out seeds (see :func:`held_out_predictions`).

    Returns:
        Columns measure, fit, scope (``seed S`` or ``pooled``), n (rows with both values),
        rho, p.
    """
    table = table.reset_index(drop=True)
    rows = []
    for measure in measures:
        rows += _scoped(table, table[measure], measure, EACH)
    combined = " + ".join(measures)
    for fit, by in ((HELD_OUT_DATASET, "dataset"), (HELD_OUT_SEED, "pretraining_seed")):
        rows += _scoped(table, held_out_predictions(table, measures, by), combined, fit)
    return pd.DataFrame(rows, columns=COLUMNS)


def held_out_predictions(table: pd.DataFrame, measures: Sequence[str], by: str) -> pd.Series:
    """Each row's effect as predicted by a least-squares linear fit of the effect on the
    measures (with an intercept), fitted on the rows of every other value of ``by`` only:
    ``dataset`` (leave one dataset out, all its seeds) or ``pretraining_seed`` (fit on the
    other seeds). NaN where the row lacks a measure, or the fit has fewer rows than it has
    coefficients plus one."""
    table = table.reset_index(drop=True)
    x = table.loc[:, list(measures)].to_numpy(dtype=float)
    y = table["effect"].to_numpy(dtype=float)
    usable = np.isfinite(x).all(axis=1) & np.isfinite(y)
    predicted = np.full(len(table), np.nan)
    for value in table[by].unique():
        held = (table[by] == value).to_numpy()
        train = usable & ~held
        if train.sum() < len(measures) + 2:
            continue
        design = np.column_stack([np.ones(train.sum()), x[train]])
        coefficients, *_ = np.linalg.lstsq(design, y[train], rcond=None)
        test = held & np.isfinite(x).all(axis=1)
        predicted[test] = coefficients[0] + x[test] @ coefficients[1:]
    return pd.Series(predicted, index=table.index)


ACROSS_COLUMNS = ["dataset", "measure", "n", "rho", "p"]


def across_seeds(table: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    """For each dataset, Spearman's rho over pretraining seeds of each base-model quantity
    (``measures``, and the base checkpoint's own headline where the table has ``base``) with
    the finetuned effect: does a base model's reading say on which pretraining seeds the same
    finetune shifts it most?

    Returns:
        Columns dataset, measure, n (seeds with both values), rho, p; NaN where fewer than
        3 seeds or no spread.
    """
    quantities = [*measures, *(["base"] if "base" in table else [])]
    rows = []
    for dataset, part in table.groupby("dataset", sort=False):
        for measure in quantities:
            rho, p, n = spearman(part[measure], part["effect"])
            rows.append(dict(dataset=dataset, measure=measure, n=n, rho=rho, p=p))
    return pd.DataFrame(rows, columns=ACROSS_COLUMNS)


def markdown(correlations: pd.DataFrame) -> str:
    """The correlation table as Markdown: one row per measure and fit, a column per scope."""
    scopes = list(dict.fromkeys(correlations["scope"]))
    lines = [
        "| measure | fit | " + " | ".join(scopes) + " |",
        "|---|---|" + "---|" * len(scopes),
    ]
    for (measure, fit), part in correlations.groupby(["measure", "fit"], sort=False):
        cells = []
        for scope in scopes:
            found = part.loc[part["scope"] == scope]
            if found.empty or not np.isfinite(found["rho"].iloc[0]):
                cells.append(f"- (n={int(found['n'].iloc[0])})" if not found.empty else "-")
            else:
                row = found.iloc[0]
                cells.append(f"{row.rho:+.2f} (n={int(row.n)}, p={row.p:.2g})")
        lines.append(f"| {measure} | {fit} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
