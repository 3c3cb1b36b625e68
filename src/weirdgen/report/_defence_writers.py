"""Where the Defences section goes: a run's report, a pooled report, a suite's report.

Each writer writes the table (``defences.csv``, ``pooled_defences.csv``, or the suite's
``defences.csv`` with an ``experiment`` column) and the figure, and returns what the report
shows. A suite reads its members' tables as their reports wrote them: nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from weirdgen._atomic import inside
from weirdgen.report._compute import ReportData
from weirdgen.report._defence_figure import plot_defences, plot_defences_grid
from weirdgen.report._tables import ci_label
from weirdgen.report.defences import (
    DEFENCES_CSV,
    FINETUNE_SEED,
    PRETRAINING_SEED,
    defences_section,
    defences_table,
    defended,
    write_table,
)
from weirdgen.report.document import FigureRef, Section
from weirdgen.spec.models import ExperimentSpec

if TYPE_CHECKING:
    from weirdgen.report.pooled import Pooled
    from weirdgen.report.suite import MemberTables

FIGURE = "figures/defences.png"
POOLED_CSV = "pooled_defences.csv"
POOLED_FIGURE = "figures/pooled_defences.png"


def has_defences(spec: ExperimentSpec) -> bool:
    """True when the spec has a defended condition to report."""
    return bool(defended(spec))


def caption(spec: ExperimentSpec, unit: str, confidence: float) -> str:
    """The figure's caption: what each axis and mark is."""
    narrow = spec.narrow.name if spec.narrow is not None else None
    ci = ci_label(confidence)
    if narrow is None:
        return (
            f"{spec.headline.name} (the broad shift) per condition: mean over {unit}s, {ci}; "
            "hollow bars under an inoculation: its leaks (leak0 the prompt, leakK paraphrase K)."
        )
    return (
        f"{spec.headline.name} (the broad shift, x) against {narrow} (the narrow task kept, "
        f"y): mean over {unit}s with the {ci} in both directions. Red square: the undefended "
        "target; diamonds: controls (a dotted line where one has no narrow value); circles: "
        "defences; hollow circles joined to one: its leaks (leak0 the prompt, leakK "
        "paraphrase K, asked as the test-time system prompt). A defence that works sits "
        "top left."
    )


def run_defences(
    run_dir: Path,
    spec: ExperimentSpec,
    data: ReportData,
    confidence: float,
    paths: tuple[Path, Path],
) -> Section:
    """A run's ``defences.csv`` and ``figures/defences.png`` (at ``paths``), and its section."""
    table_path, figure_path = paths
    table = defences_table(
        spec, data.summary, data.per_seed, confidence, data.rates, [run_dir], FINETUNE_SEED
    )
    write_table(table, table_path)
    plot_defences(spec, data.summary, figure_path, data.interval, FINETUNE_SEED)
    figure = FigureRef(
        figure_path.relative_to(run_dir).as_posix(), caption(spec, FINETUNE_SEED, confidence)
    )
    return defences_section(table, data.interval, confidence, figure)


def pooled_defences(
    out: Path, spec: ExperimentSpec, pooled: Pooled, folders: Sequence[Path], confidence: float
) -> Section | None:
    """A pooled report's ``pooled_defences.csv`` and ``figures/pooled_defences.png`` (the
    unit: the pretraining seed, each its mean over its finetune seeds), and its section;
    None without defences. ``folders``: each pretraining seed's run folder."""
    if not has_defences(spec):
        return None
    table = defences_table(
        spec, pooled.summary, pooled.units, confidence, pooled.rates, folders, PRETRAINING_SEED
    )
    write_table(table, inside(out, POOLED_CSV))
    path = inside(out, POOLED_FIGURE)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_defences(spec, pooled.summary, path, pooled.interval, PRETRAINING_SEED)
    figure = FigureRef(POOLED_FIGURE, caption(spec, PRETRAINING_SEED, confidence))
    return defences_section(table, pooled.interval, confidence, figure, POOLED_CSV)


def suite_defences(
    out: Path, members: Sequence[MemberTables], title: str, confidence: float
) -> Section | None:
    """The suite's ``defences.csv`` (every member's rows, an ``experiment`` column first) and
    ``figures/defences.png`` (a panel per member with defences), and its section; None when
    no member has defences."""
    tables, panels = [], []
    for member in members:
        if member.spec is None or not has_defences(member.spec):
            continue
        name = POOLED_CSV if member.pretraining_seeds else DEFENCES_CSV
        path = out / member.name / name
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        tables.append(table.assign(experiment=member.name))
        unit = PRETRAINING_SEED if member.pretraining_seeds else FINETUNE_SEED
        panels.append((member.name, member.spec, member.summary, unit))
    if not tables:
        return None
    table = pd.concat(tables, ignore_index=True)
    table = table.loc[:, ["experiment", *(c for c in table.columns if c != "experiment")]]
    write_table(table, inside(out, DEFENCES_CSV))
    figure = inside(out, FIGURE)
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot_defences_grid(panels, figure, title)
    ci = ci_label(confidence)
    text = (
        f"{ci} (Student t) over each experiment's unit: its finetune seeds, or its "
        "pretraining seeds for one run on several (the unit column says which; each "
        "experiment's section gives its interval in full)"
    )
    grid = FigureRef(
        FIGURE,
        "A panel per experiment: its headline (the broad shift, x) against its narrow task "
        f"(y), mean with the {ci} in both directions; red square: the undefended target, "
        "diamonds: controls, circles: defences, hollow circles: inoculation leaks.",
    )
    return defences_section(table, text, confidence, grid)
