"""The report of a suite of experiments: one section per member and a grid of headlines.

``summary.md`` and ``report.html`` in the suite's folder give, for each member in the suite's
order, its headline metric per condition (target, each control, base: the mean over seeds and
its interval), the valid rate beside it and the target minus each condition, as the member's
own report computed them (its summary.csv, seed_metrics.csv and contrasts.csv, or the
pooled_*.csv tables of a member run on several pretraining seeds), with a link to that report.
``figures/grid.png`` has one panel per member, two to a row in the suite's order: for
organism/all, the paper's 3 × 2 grid (weird generalization, data poisoning and inductive
backdoors, a row each). When members have defences, ``defences.csv`` (their rows, an
``experiment`` column first), ``figures/defences.png`` (a panel per such member) and a
Defences section (see :mod:`weirdgen.report.defences`).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from rich.console import Group
from rich.text import Text

from weirdgen._atomic import inside, write_text
from weirdgen.report._defence_writers import FIGURE as DEFENCES_FIGURE
from weirdgen.report._defence_writers import suite_defences
from weirdgen.report._style import (
    condition_colors,
    fit_tick_labels,
    new_figure,
    save,
    tidy,
    wrap,
    y_range,
)
from weirdgen.report._tables import (
    MISSING,
    TextTable,
    ci_label,
    format_interval,
    interval_note,
    ordered_conditions,
    plain_rows,
)
from weirdgen.report.defences import DEFENCES_CSV
from weirdgen.report.document import (
    _CSS,
    Section,
    _code,
    _html_section,
    _html_table,
    _markdown_section,
    _markdown_table,
    metric_definition,
)
from weirdgen.report.figures import _bars_with_ci, _rows_for, seed_dots
from weirdgen.report.pooled import UNIT
from weirdgen.report.pooled import _interval as pooled_interval
from weirdgen.report.terminal import _rich_table
from weirdgen.spec.load import load_spec
from weirdgen.spec.models import ExperimentSpec
from weirdgen.spec.questions import MetadataValue

GRID = "figures/grid.png"
COLUMNS = 2
"""Panels per row of the grid."""


@dataclass(frozen=True)
class MemberTables:
    """One member's tables as its own report wrote them (plain rows: no ``by`` keys)."""

    name: str
    spec: ExperimentSpec | None
    """None when the member has no report yet."""
    summary: pd.DataFrame
    """Rows of metrics without ``by`` keys, and the valid rate's (see :func:`valid_rate`)."""
    seeds: pd.DataFrame
    """The value of each unit the intervals are over: a finetune seed, or a pretraining
    seed's mean over its finetune seeds."""
    contrasts: pd.DataFrame
    interval: str
    link: str
    """The member's own report, relative to the suite's folder."""
    pretraining_seeds: tuple[int, ...] = ()
    """The pretraining seeds of a member run on several (its intervals are over them)."""

    @property
    def headline(self) -> str:
        assert self.spec is not None
        return self.spec.headline.name

    @property
    def valid(self) -> str | None:
        """The valid-rate metric (:func:`valid_rate`), its rows in ``summary``."""
        found = valid_rate(self.spec) if self.spec is not None else None
        return found.metric if found is not None else None


@dataclass(frozen=True)
class SuiteReport:
    """What :func:`write_suite_report` wrote, and the member tables it read."""

    summary_md: Path
    report_html: Path
    grid_png: Path
    members: list[MemberTables]
    defences_csv: Path | None = None
    """Every member's defences, an ``experiment`` column first; None when none has any."""
    defences_png: Path | None = None


class ValidRate(NamedTuple):
    """The metric that is a member's valid (on-topic) rate, and the values of its ``by`` keys
    its rows are read at (the headline's own ``where`` values)."""

    metric: str
    at: dict[str, MetadataValue]


def valid_rate(spec: ExperimentSpec) -> ValidRate | None:
    """The headline's valid rate: on the headline's evaluation set, the mean of ``<headline
    score>_valid``, preferably on the headline's questions (the same ``where``, or ``by`` keys
    read at the headline's ``where`` values), else a metric named ``valid_rate``; None when
    the spec has neither."""
    headline = spec.headline
    single = {key: values[0] for key, values in headline.where.items() if len(values) == 1}
    ranked = []
    for metric in spec.metrics:
        if metric.eval_set != headline.eval_set or metric.score != f"{headline.score}_valid":
            continue
        if metric.by and not set(metric.by) <= set(single):
            continue
        same = metric.where == headline.where and not metric.by
        keyed = bool(metric.by) and metric.where.items() <= headline.where.items()
        ranked.append((0 if same else 1 if keyed else 2, metric))
    ranked.sort(key=lambda pair: pair[0])
    found = [metric for _, metric in ranked]
    found += [m for m in spec.metrics if m.name == "valid_rate" and not m.by]
    if not found:
        return None
    return ValidRate(found[0].name, {key: single[key] for key in found[0].by})


def _headline_rows(summary: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """The summary's plain rows, and the valid rate's rows at its ``by`` values if it has
    keys (a CSV may have read ``"017"`` as 17, so values match as text or as numbers)."""
    plain = plain_rows(summary)
    valid = valid_rate(spec)
    if valid is None or not valid.at:
        return plain
    rows = summary.loc[summary["metric"] == valid.metric]
    for key, value in valid.at.items():
        rows = rows.loc[rows[key].map(lambda cell, value=value: _same(cell, value))]
    return pd.concat([plain, rows], ignore_index=True)


def _same(cell: object, value: MetadataValue) -> bool:
    if str(cell) == str(value):
        return True
    try:
        return float(cell) == float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def read_member(out: Path, name: str, confidence: float = 0.95) -> MemberTables:
    """A member's tables from its folder ``out/name``: a run folder, or the pooled folder of a
    run on several pretraining seeds; empty tables when it has no report yet."""
    folder = out / name
    if (folder / "summary.csv").is_file():
        spec = load_spec(folder / "spec.yaml")
        summary = pd.read_csv(folder / "summary.csv")
        return MemberTables(
            name,
            spec,
            _headline_rows(summary, spec),
            plain_rows(pd.read_csv(folder / "seed_metrics.csv")),
            plain_rows(pd.read_csv(folder / "contrasts.csv")),
            interval_note(summary, spec, confidence),
            f"{name}/report.html",
        )
    specs = sorted(folder.glob(f"{UNIT}_*/spec.yaml"))
    if (folder / "pooled_summary.csv").is_file() and specs:
        by_seed = pd.read_csv(folder / f"pooled_by_{UNIT}.csv")
        units = by_seed.rename(columns={"mean": "value"}).drop(columns=[UNIT])
        per_model = pd.read_csv(folder / "pooled_per_model.csv")
        spec = load_spec(specs[0])
        return MemberTables(
            name,
            spec,
            _headline_rows(pd.read_csv(folder / "pooled_summary.csv"), spec),
            plain_rows(units),
            plain_rows(pd.read_csv(folder / "pooled_contrasts.csv")),
            pooled_interval(confidence, by_seed[UNIT].nunique(), per_model),
            f"{name}/pooled.md",
            tuple(sorted(int(seed) for seed in by_seed[UNIT].unique())),
        )
    empty = pd.DataFrame()
    return MemberTables(name, None, empty, empty, empty, "", f"{name}/")


def headline_table(member: MemberTables, confidence: float = 0.95, digits: int = 3) -> TextTable:
    """Conditions as rows: seeds, the headline [CI], the valid rate [CI] and the target minus
    the condition [CI]; the target's row emphasized."""
    assert member.spec is not None
    spec, ci = member.spec, ci_label(confidence)
    headline, valid, target = member.headline, member.valid, spec.target.name
    units = "pretraining seeds" if member.pretraining_seeds else "seeds"
    columns = ["condition", "role", units, f"{headline} [{ci}]"]
    columns += [f"{valid} [{ci}]"] if valid else []
    columns.append(f"{target} − condition [{ci}]")
    differences = member.contrasts.loc[member.contrasts["metric"] == headline]
    rows, emphasized = [], []
    for condition in ordered_conditions(spec, member.summary["condition"]):
        block = member.summary.loc[member.summary["condition"] == condition].set_index("metric")
        cells = [condition, str(block["role"].iloc[0]), str(int(block["n_seeds"].max()))]
        for metric in [headline, *([valid] if valid else [])]:
            row = block.loc[metric] if metric in block.index else None
            cells.append(
                MISSING
                if row is None
                else format_interval(row["mean"], row["ci_low"], row["ci_high"], digits)
            )
        difference = differences.loc[differences["control"] == condition]
        if condition == target:
            cells.append("")
        elif difference.empty:
            cells.append(MISSING)
        else:
            one = difference.iloc[0]
            cells.append(format_interval(one["diff"], one["ci_low"], one["ci_high"], digits, True))
        rows.append(cells)
        emphasized.append(condition == target)
    return TextTable(columns, rows, emphasized)


def write_suite_report(
    out: Path, name: str, description: str, members: list[str], confidence: float = 0.95
) -> SuiteReport:
    """Write ``summary.md``, ``report.html`` and ``figures/grid.png`` into the suite's folder
    ``out`` from the tables its members' reports wrote (nothing is recomputed)."""
    out = Path(out).resolve()
    tables = [read_member(out, member, confidence) for member in members]
    grid = inside(out, GRID)
    grid.parent.mkdir(parents=True, exist_ok=True)
    plot_grid(tables, grid, name, confidence)
    defences = suite_defences(out, tables, name, confidence)
    report = SuiteReport(
        inside(out, "summary.md"),
        inside(out, "report.html"),
        grid,
        tables,
        inside(out, DEFENCES_CSV) if defences is not None else None,
        inside(out, DEFENCES_FIGURE) if defences is not None else None,
    )
    write_text(report.summary_md, _markdown(name, description, tables, confidence, defences))
    write_text(report.report_html, _html(name, description, tables, confidence, defences))
    return report


def plot_grid(members: list[MemberTables], path: Path, title: str, confidence: float) -> Path:
    """One panel per member, :data:`COLUMNS` to a row: the headline per condition, bars of
    the mean with their intervals, a dot per seed, the target in red, each condition's
    valid rate under its name."""
    n_rows = max(1, math.ceil(len(members) / COLUMNS))
    width = 4.8 * COLUMNS
    figure = new_figure(width, 3.5 * n_rows + 0.9)
    axes = figure.subplots(n_rows, COLUMNS, squeeze=False).ravel()
    for ax, member in zip(axes, members, strict=False):
        if member.spec is None:
            ax.text(0.5, 0.5, "no report yet", ha="center", va="center", color="0.4")
            ax.set_title(member.name, fontsize=11)
            ax.set_axis_off()
        else:
            _panel(ax, member, width / COLUMNS)
    for ax in axes[len(members) :]:
        ax.set_visible(False)
    caption = (
        f"bars: each experiment's headline metric per condition, mean over seeds · error bars: "
        f"{ci_label(confidence)} (Student t) over its seeds (its section says which) · dots: "
        "those seeds · target in red · under each condition: its valid rate"
    )
    figure.suptitle(f"{title}\n{wrap(caption, width)}", fontsize=10)
    return save(figure, path)


def _panel(ax: Axes, member: MemberTables, width: float) -> None:
    assert member.spec is not None
    spec, headline, valid = member.spec, member.headline, member.valid
    rows = member.summary.loc[member.summary["metric"] == headline]
    conditions = ordered_conditions(spec, rows["condition"])
    colors = condition_colors(spec, conditions)
    x = np.arange(len(conditions))
    means = _rows_for(member.summary, headline, conditions)
    _bars_with_ci(ax, x, means, [colors[c] for c in conditions], width=0.65)
    seeds = member.seeds.loc[member.seeds["metric"] == headline]
    seed_dots(ax, x, conditions, seeds, size=14)
    labels = conditions
    if valid is not None:
        rates = _rows_for(member.summary, valid, conditions)["mean"]
        labels = [f"{c}\nvalid {_rate(rates[c])}" for c in conditions]
    ax.set_xticks(x, labels)
    for label, condition in zip(ax.get_xticklabels(), conditions, strict=True):
        if condition == spec.target.name:
            label.set_fontweight("bold")
    fit_tick_labels(ax, conditions, (width - 1.0) / max(1, len(conditions)))
    ax.set_title(f"{member.name}: {headline}", fontsize=11)
    ax.set_ylabel("mean over seeds")
    y_range(ax, means, seeds["value"])
    tidy(ax)


def _rate(value: float) -> str:
    return MISSING if pd.isna(value) else f"{value:.2f}"


def _about(member: MemberTables) -> list[str]:
    """The lines above a member's table: what it is, what its intervals are over, and what
    its headline and valid rate measure (text with `code` spans)."""
    spec = member.spec
    assert spec is not None
    lines = [spec.description] if spec.description else []
    seeds = f"seeds {', '.join(map(str, spec.seeds))}"
    model = spec.model
    if member.pretraining_seeds:
        model = model.partition("@")[0]
        pretraining = ", ".join(map(str, member.pretraining_seeds))
        seeds = f"pretraining seeds {pretraining}, finetune {seeds}"
    lines.append(f"Model `{model}`, {seeds}. Intervals: {member.interval}.")
    metrics = {m.name: m for m in spec.metrics}
    lines.append(f"Headline `{member.headline}`: {metric_definition(metrics[member.headline])}")
    valid = valid_rate(spec)
    if valid is not None:
        at = ", ".join(f"`{key}` {value}" for key, value in valid.at.items())
        read = f" (read at {at}, the headline's questions)" if at else ""
        lines.append(
            f"Valid rate `{valid.metric}`{read}: {metric_definition(metrics[valid.metric])}"
        )
    else:
        lines.append("No valid-rate metric: this experiment does not measure one.")
    return lines


_INTRO = (
    "One section per experiment: its headline metric per condition (mean over seeds with its "
    "{ci}), the valid (on-topic) rate beside it, and the target minus each condition. The "
    "numbers are those of the experiment's own report, which has every other metric."
)


def _markdown(
    name: str,
    description: str,
    members: list[MemberTables],
    confidence: float,
    defences: Section | None = None,
) -> str:
    ci = ci_label(confidence)
    lines = [f"# {name}", ""]
    lines += [description, ""] if description else []
    lines += [_INTRO.format(ci=ci), "", f"![{name}: the headline of each experiment]({GRID})", ""]
    for member in members:
        lines += [f"## {member.name}", ""]
        if member.spec is None:
            lines += [f"No report yet in {member.link}; run the suite again to finish it.", ""]
            continue
        for line in _about(member):
            lines += [line, ""]
        lines += [*_markdown_table(headline_table(member, confidence)), ""]
        lines += [f"Its own report: [{member.link}]({member.link})", ""]
    if defences is not None:
        lines += _markdown_section(defences)
    return "\n".join(lines)


def _html(
    name: str,
    description: str,
    members: list[MemberTables],
    confidence: float,
    defences: Section | None = None,
) -> str:
    e, ci = html.escape, ci_label(confidence)
    body = [f"<h1>{e(name)}</h1>"]
    body += [f"<p>{e(description)}</p>"] if description else []
    body += [
        f"<p>{e(_INTRO.format(ci=ci))}</p>",
        f'<figure><img src="{GRID}" alt="{e(name)}: the headline of each experiment"></figure>',
    ]
    for member in members:
        body.append(f'<h2 id="{e(member.name)}">{e(member.name)}</h2>')
        link = f'<a href="{e(member.link)}">{e(member.link)}</a>'
        if member.spec is None:
            body.append(f"<p>No report yet in {link}; run the suite again to finish it.</p>")
            continue
        body += [f"<p>{_code(line)}</p>" for line in _about(member)]
        body += [_html_table(headline_table(member, confidence)), f"<p>Its own report: {link}</p>"]
    if defences is not None:
        body.append(_html_section(defences))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(name)}: weirdgen suite report</title>\n<style>{_CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def terminal_tables(report: SuiteReport, confidence: float = 0.95) -> Group:
    """Each member's headline table for the terminal, in the suite's order."""
    parts: list[object] = []
    for member in report.members:
        if member.spec is None:
            parts += [Text(f"{member.name}: no report yet"), ""]
            continue
        title = f"{member.name}: {member.headline} per condition [{member.interval}]"
        table = headline_table(member, confidence, digits=2)
        table = TextTable(  # the target is marked; no role column, as in render_table
            [c for i, c in enumerate(table.columns) if i != 1],
            [[c for i, c in enumerate(row) if i != 1] for row in table.rows],
            table.emphasized,
        )
        parts += [_rich_table(table, title, f"its own report: {member.link}", 1), ""]
    return Group(*parts)
