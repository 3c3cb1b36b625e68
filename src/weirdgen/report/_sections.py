"""Report sections beyond the main tables: a metric per value of its keys, the training curve.

Each builder draws its figure and returns the section that shows it with its tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from weirdgen.report._compute import ReportData
from weirdgen.report._tables import (
    MISSING,
    TextTable,
    ci_label,
    excluded_header,
    format_number,
    ordered_conditions,
    plain_rows,
)
from weirdgen.report._value_tables import (
    excluded_values_table,
    format_key,
    is_numeric,
    key_values,
    value_contrasts_table,
    values_table,
)
from weirdgen.report.curves import plot_by_value, plot_steps
from weirdgen.report.document import FigureRef, Section, metric_definition
from weirdgen.report.figures import plot_grouped
from weirdgen.spec.models import ExperimentSpec


def figure_name(metric: str, keys: list[str]) -> str:
    """A file name for a metric's per-value figure, e.g. 'old_rate_by_year.png'."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{metric}_by_{'_'.join(keys)}")
    return f"{safe}.png"


def value_section(
    data: ReportData,
    spec: ExperimentSpec,
    metric: str,
    path: Path,
    run_dir: Path,
    confidence: float,
) -> Section:
    """A metric per value of its ``by`` keys: the values table, the contrasts, a figure, and
    for a metric with a coherence filter the share of answers it left out per value.

    A numeric key is drawn as a curve (the paper's year and date sweeps); otherwise the
    values are grouped bars.
    """
    keys = data.keyed[metric]
    summary = data.summary.loc[data.summary["metric"] == metric]
    seeds = data.per_seed.loc[data.per_seed["metric"] == metric]
    ci, named = ci_label(confidence), " and ".join(keys)
    if any(is_numeric(summary[k]) for k in keys):
        plot_by_value(summary, seeds, spec, metric, keys, path, data.interval)
        caption = (
            f"{metric} against {next(k for k in keys if is_numeric(summary[k]))}: mean over "
            f"seeds per condition (line), {ci} (band), one faint dot per seed."
        )
    else:
        labels = summary.assign(
            value_label=[
                ", ".join(format_key(row[k]) for k in keys) for _, row in summary.iterrows()
            ]
        )
        order = [", ".join(v) for v in key_values(summary, keys)]
        title = f"{spec.name}: {metric} by {named}"
        plot_grouped(labels, spec, "value_label", order, path, title, named, data.interval)
        caption = f"{metric} per {named} and condition: mean over seeds, {ci} error bars."
    definition = next(m for m in spec.metrics if m.name == metric)
    tables: list[tuple[str, TextTable]] = [
        (
            f"{metric} per {named} (mean over seeds [{ci}])",
            values_table(summary, spec, metric, keys),
        ),
        (
            f"{spec.target.name} − each control per {named} (paired by seed where possible)",
            value_contrasts_table(data.differences, spec, metric, keys, confidence),
        ),
    ]
    if definition.coherence is not None:
        title = f"{metric}: answers {excluded_header(definition)} per {named} and condition"
        tables.append((title, excluded_values_table(summary, spec, metric, keys)))
    return Section(
        heading=f"{metric} by {named}",
        text=f"{metric_definition(definition)}. Mean over seeds [{ci}] for each value.",
        tables=tuple(tables),
        figures=(FigureRef(_relative(path, run_dir), caption),),
    )


_YES_NO = {True: "yes", False: "no"}


def seeds_section(data: ReportData, spec: ExperimentSpec) -> Section | None:
    """Each seed's yes or no for the metrics with ``at_least`` (did it reach the threshold),
    beside its headline value: a mean over seeds mixes seeds that show the effect with
    seeds that do not, and this says which are which. None without such metrics."""
    flagged = [m for m in spec.metrics if m.at_least is not None and not m.by]
    if not flagged:
        return None
    shown = [m.name for m in flagged]
    headline = [] if spec.headline.by or spec.headline.at_least is not None else [spec.headline]
    names = [m.name for m in headline] + shown
    seeds = plain_rows(data.per_seed)
    seeds = seeds.loc[seeds["metric"].isin(names)]
    values = {(r.condition, r.seed, r.metric): r.value for r in seeds.itertuples()}
    rows = []
    for condition in ordered_conditions(spec, seeds["condition"]):
        for seed in sorted(seeds.loc[seeds["condition"] == condition, "seed"].unique()):
            row = [condition, str(seed)]
            row += [format_number(values.get((condition, seed, m.name))) for m in headline]
            for name in shown:
                value = values.get((condition, seed, name))
                row.append(MISSING if value is None or value != value else _YES_NO[value == 1])
            rows.append(row)
    reached = "; ".join(f"{m.name}: mean at least {m.at_least:g}" for m in flagged)
    return Section(
        heading="Per seed",
        text=f"Whether each seed reaches the threshold ({reached}), beside its headline "
        "value; the share of seeds that do is the metric's mean in the tables above.",
        tables=(
            ("each seed", TextTable(["condition", "seed", *names], rows, [False] * len(rows))),
        ),
    )


def steps_section(
    data: ReportData, spec: ExperimentSpec, path: Path, run_dir: Path, confidence: float
) -> Section:
    """The headline metric over finetuning: a table per step and condition, and its curve."""
    assert data.step_summary is not None and data.step_seeds is not None
    metric, ci = spec.headline.name, ci_label(confidence)
    plot_steps(data.step_summary, data.step_seeds, spec, metric, path, data.interval)
    pooled = " (over all its questions, pooled across its by values)" if spec.headline.by else ""
    return Section(
        heading=f"Training curve: {metric}",
        text=f"The headline metric{pooled} at each saved checkpoint of each seed, from the "
        "base model (step 0) to the end of finetuning; step_metrics.csv has the per-seed "
        "values and step_summary.csv the means.",
        tables=(
            (
                f"{metric} per training step (mean over seeds [{ci}])",
                values_table(data.step_summary, spec, metric, ["step"]),
            ),
        ),
        figures=(
            FigureRef(
                _relative(path, run_dir),
                f"{metric} over finetuning: one thin line per seed, the mean over seeds "
                f"(thick line) with its {ci} (band); a dashed level for a condition with a "
                "single step.",
            ),
        ),
    )


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()
