"""The pooled report of an experiment run on several pretraining seeds of the organism.

Two levels of replication: finetune seeds within a pretraining seed, and pretraining seeds.
Per pretraining seed, a metric is summarized over its finetune seeds as in any run. Pooled,
the unit is the pretraining seed: each contributes the mean over its finetune seeds, and the
interval is the Student t interval over those means. Their spread holds both the
pretraining-seed and the finetune-seed variation, so the interval accounts for both levels
(the standard two-stage estimate with equal finetune seeds per pretraining seed). Contrasts
pair target and control by pretraining seed.

Files in the parent run folder: ``pooled.md``, ``pooled_summary.csv``,
``pooled_contrasts.csv``, ``pooled_by_pretraining_seed.csv`` (every pretraining seed's own
summary), ``pooled_per_model.csv`` (each finetuned model's value) and
``figures/pooled.png`` (bars of the pooled means, one dot per pretraining seed); with
defences, ``pooled_defences.csv``, ``figures/pooled_defences.png`` and a Defences section in
``pooled.md`` (see :mod:`weirdgen.report.defences`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from weirdgen._atomic import inside, write_text
from weirdgen.report._defence_writers import pooled_defences
from weirdgen.report._tables import (
    ci_label,
    format_interval,
    ordered_conditions,
    ordered_metrics,
    plain_rows,
)
from weirdgen.report.document import _markdown_section
from weirdgen.report.figures import plot_metrics
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import INTERVAL_METHOD, contrasts, metric_keys, rate_metrics, seed_metrics
from weirdgen.stats import summarize as summarize_seeds

UNIT = "pretraining_seed"


@dataclass
class Pooled:
    """The tables of a pooled report."""

    per_model: pd.DataFrame
    by_pretraining_seed: pd.DataFrame
    summary: pd.DataFrame
    differences: pd.DataFrame
    units: pd.DataFrame
    interval: str
    rates: frozenset[str] = frozenset()
    """The metrics that are rates in every pretraining seed's table."""


def pool(
    spec: ExperimentSpec, samples: dict[int, pd.DataFrame], confidence: float = 0.95
) -> Pooled:
    """Per-model values, per-pretraining-seed summaries and pooled summaries and contrasts."""
    keys = metric_keys(spec.metrics)
    rates = set.intersection(*(set(rate_metrics(s, spec.metrics)) for s in samples.values()))
    per_model, by_seed = [], []
    for seed, table in samples.items():
        values = seed_metrics(table, spec.metrics)
        values = values.loc[:, [c for c in values.columns if c not in _COUNTS]]
        per_model.append(values.assign(**{UNIT: seed}))
        summary = summarize_seeds(values, confidence, by=keys, rates=rates)
        by_seed.append(summary.assign(**{UNIT: seed}))
    models = pd.concat(per_model, ignore_index=True)
    group = [UNIT, "condition", "role", "metric", *keys]
    units = (
        models.groupby(group, sort=False, dropna=False, as_index=False)["value"]
        .mean()
        .rename(columns={UNIT: "seed"})
    )
    summary = summarize_seeds(units, confidence, by=keys, rates=rates)
    differences = contrasts(
        units, spec.target.name, [c.name for c in spec.controls], confidence, by=keys, rates=rates
    )
    return Pooled(
        models,
        pd.concat(by_seed, ignore_index=True),
        summary,
        differences,
        units,
        _interval(confidence, len(samples), models),
        frozenset(rates),
    )


_COUNTS = ("n_answers", "n_incoherent", "n_unrated", "excluded")


def _interval(confidence: float, n_pretraining: int, models: pd.DataFrame) -> str:
    finetune = models.groupby([UNIT, "condition"])["seed"].nunique()
    low, high = int(finetune.min()), int(finetune.max())
    each = str(high) if low == high else f"{low}–{high}"
    return (
        f"{ci_label(confidence)} ({INTERVAL_METHOD}) across {n_pretraining} pretraining seeds, "
        f"each the mean over its {each} finetune seeds"
    )


def write_pooled(
    out: Path, spec: ExperimentSpec, samples: dict[int, pd.DataFrame], confidence: float = 0.95
) -> Pooled:
    """Write the pooled tables, ``pooled.md`` and ``figures/pooled.png`` into ``out``."""
    pooled = pool(spec, samples, confidence)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("pooled_per_model", pooled.per_model),
        (f"pooled_by_{UNIT}", pooled.by_pretraining_seed),
        ("pooled_summary", pooled.summary),
        ("pooled_contrasts", pooled.differences),
    ):
        write_text(inside(out, f"{name}.csv"), table.to_csv(index=False))
    figure = inside(out, "figures/pooled.png")
    plain = plain_rows(pooled.summary)
    if not plain.empty:
        figure.parent.mkdir(parents=True, exist_ok=True)
        units = plain_rows(pooled.units)
        plot_metrics(plain, units, spec, figure, pooled.interval + " · dots: pretraining seeds")
    text = render(spec, pooled, confidence, figure.is_file())
    folders = [out / f"{UNIT}_{seed}" for seed in sorted(samples)]
    defences = pooled_defences(out, spec, pooled, folders, confidence)
    if defences is not None:
        text += "\n" + "\n".join(_markdown_section(defences))
    write_text(inside(out, "pooled.md"), text)
    return pooled


def render(spec: ExperimentSpec, pooled: Pooled, confidence: float, figure: bool) -> str:
    """pooled.md: each metric per condition, per pretraining seed and pooled; contrasts."""
    seeds = sorted(pooled.by_pretraining_seed[UNIT].unique())
    ci = ci_label(confidence)
    lines = [
        f"# {spec.name}: pooled over pretraining seeds {', '.join(map(str, seeds))}",
        "",
        f"Pooled: {pooled.interval}. Per pretraining seed: the mean over its finetune seeds "
        f"[{ci} over them]; each seed's full report is in pretraining_seed_S/.",
        "",
        "| metric | condition | "
        + " | ".join(f"pretraining seed {s}" for s in seeds)
        + f" | pooled [{ci}] |",
        "|---|---|" + "---|" * (len(seeds) + 1),
    ]
    keys = metric_keys(spec.metrics)
    summary = plain_rows(pooled.summary)
    by_seed = pooled.by_pretraining_seed
    by_seed = by_seed.loc[by_seed[keys].isna().all(axis=1)] if keys else by_seed
    for metric in ordered_metrics(spec, summary["metric"]):
        rows = summary.loc[summary["metric"] == metric]
        for condition in ordered_conditions(spec, rows["condition"]):
            cells = []
            for seed in seeds:
                one = by_seed.loc[
                    (by_seed["metric"] == metric)
                    & (by_seed["condition"] == condition)
                    & (by_seed[UNIT] == seed)
                ]
                cells.append(_cell(one))
            pooled_row = rows.loc[rows["condition"] == condition]
            lines.append(f"| {metric} | {condition} | {' | '.join(cells)} | {_cell(pooled_row)} |")
    lines += ["", f"## {spec.target.name} − each control, paired by pretraining seed", ""]
    lines += [f"| metric | control | difference [{ci}] | pretraining seeds |", "|---|---|---|---|"]
    for _, row in plain_rows(pooled.differences).iterrows():
        diff = format_interval(row["diff"], row["ci_low"], row["ci_high"], signed=True)
        lines.append(f"| {row['metric']} | {row['control']} | {diff} | {int(row['n_pairs'])} |")
    keyed = [m.name for m in spec.metrics if m.by]
    if keyed:
        lines += ["", f"Metrics with by keys ({', '.join(keyed)}): pooled_summary.csv."]
    if figure:
        lines += ["", "![pooled](figures/pooled.png)"]
    return "\n".join(lines) + "\n"


def _cell(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "n/a"
    row = rows.iloc[0]
    return format_interval(row["mean"], row["ci_low"], row["ci_high"])
