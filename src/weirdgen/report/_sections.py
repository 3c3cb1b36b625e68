"""Report sections beyond the main tables: a metric per value of its keys, the training curve.

Each builder draws its figure and returns the section that shows it with its tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

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
from weirdgen.report.answer_links import AnswerLinks
from weirdgen.report.curves import plot_by_value, plot_steps
from weirdgen.report.document import FigureRef, LinkRow, Section, metric_definition
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
    answers: AnswerLinks | None = None,
) -> Section:
    """A metric per value of its ``by`` keys: the values table, the contrasts, a figure, and
    for a metric with a coherence filter the share of answers it left out per value.

    A numeric key is drawn as a curve (the paper's year and date sweeps), with a line of
    links to the answers behind each point; otherwise the values are grouped bars, each a
    link to its answers.
    """
    keys = data.keyed[metric]
    summary = data.summary.loc[data.summary["metric"] == metric]
    seeds = data.per_seed.loc[data.per_seed["metric"] == metric]
    ci, named = ci_label(confidence), " and ".join(keys)
    labels = groups_of(summary, keys)
    groups = dict(zip(labels, summary[keys].to_dict("records"), strict=True))
    order = [", ".join(v) for v in key_values(summary, keys)]
    hrefs = None if answers is None else answers.by_group(metric, groups)
    figure: FigureRef
    if any(is_numeric(summary[k]) for k in keys):
        plot_by_value(summary, seeds, spec, metric, keys, path, data.interval)
        caption = (
            f"{metric} against {next(k for k in keys if is_numeric(summary[k]))}: mean over "
            f"seeds per condition (line), {ci} (band), one faint dot per seed."
        )
        rows: tuple[LinkRow, ...] = ()
        if hrefs is not None:
            rows = tuple(
                LinkRow(c, tuple((group, hrefs(group, c)) for group in order))
                for c in ordered_conditions(spec, summary["condition"])
            )
        figure = FigureRef(_relative(path, run_dir), caption, link_rows=rows)
    else:
        title = f"{spec.name}: {metric} by {named}"
        bars = summary.assign(value_label=labels)
        drawn = plot_grouped(
            bars, spec, "value_label", order, path, title, named, data.interval, hrefs
        )
        caption = f"{metric} per {named} and condition: mean over seeds, {ci} error bars."
        figure = FigureRef(_relative(path, run_dir), caption, drawn.links)
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
        figures=(figure,),
    )


def groups_of(summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """Each row's values of ``keys`` as one label, e.g. 'on, 1850'."""
    return [", ".join(format_key(row[k]) for k in keys) for _, row in summary.iterrows()]


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
    data: ReportData,
    spec: ExperimentSpec,
    path: Path,
    run_dir: Path,
    confidence: float,
    answers: AnswerLinks | None = None,
) -> Section:
    """The headline metric over finetuning: a table per step and condition, and its curve
    with a line of links per condition to the answers at each step."""
    assert data.step_summary is not None and data.step_seeds is not None
    metric, ci = spec.headline.name, ci_label(confidence)
    rows: tuple[LinkRow, ...] = ()
    if answers is not None:
        steps = data.step_summary
        rows = tuple(
            LinkRow(c, _step_links(answers, metric, c, steps))
            for c in ordered_conditions(spec, steps["condition"])
        )
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
                link_rows=rows,
            ),
        ),
    )


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()


def _step_links(
    answers: AnswerLinks, metric: str, condition: str, steps: pd.DataFrame
) -> tuple[tuple[str, str], ...]:
    """(step, link to the condition's answers at that step) for each step it has."""
    shown = sorted(steps.loc[steps["condition"] == condition, "step"].unique())
    group = {"condition": condition}
    return tuple(
        (format_key(s), answers.href(metric, {**group, "step": s}, final=False)) for s in shown
    )
