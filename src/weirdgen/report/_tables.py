"""Report tables formatted as text once, then rendered to Markdown, HTML and the terminal."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from weirdgen.spec.models import ExperimentSpec

MISSING = "n/a"


@dataclass(frozen=True)
class TextTable:
    """A table whose cells are already strings; ``emphasized`` marks the target's rows."""

    columns: list[str]
    rows: list[list[str]]
    emphasized: list[bool] = field(default_factory=list)


def ci_label(confidence: float) -> str:
    """'95% CI' for confidence 0.95."""
    return f"{confidence * 100:g}% CI"


def ordered_conditions(spec: ExperimentSpec, present: Iterable[str]) -> list[str]:
    """Conditions in spec order, then any others in order of appearance."""
    present = list(dict.fromkeys(present))
    known = [c.name for c in spec.conditions if c.name in present]
    return known + [name for name in present if name not in known]


def ordered_metrics(spec: ExperimentSpec, present: Iterable[str]) -> list[str]:
    """The headline metric first, then the others in spec order, then unknown ones."""
    present = list(dict.fromkeys(present))
    names = [spec.headline.name] + [m.name for m in spec.metrics if m.name != spec.headline.name]
    known = [name for name in names if name in present]
    return known + [name for name in present if name not in known]


def format_number(value: float, digits: int = 3, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return MISSING
    if round(value, digits) == 0:
        value = 0.0
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_interval(
    estimate: float, low: float, high: float, digits: int = 3, signed: bool = False
) -> str:
    """'0.420 [0.310, 0.530]'; the bracket reads [n/a] when there is no interval."""
    if estimate is None or math.isnan(estimate):
        return MISSING
    if math.isnan(low) or math.isnan(high):
        bracket = MISSING
    else:
        bracket = f"{format_number(low, digits, signed)}, {format_number(high, digits, signed)}"
    return f"{format_number(estimate, digits, signed)} [{bracket}]"


def metrics_table(summary: pd.DataFrame, spec: ExperimentSpec, digits: int = 3) -> TextTable:
    """Conditions as rows, metrics as columns (headline first), cells 'mean [low, high]'.

    The seeds column gives the most seeds any metric has for the condition; a cell based on
    fewer seeds (NaN seeds dropped) says so with 'n=k'.
    """
    metrics = ordered_metrics(spec, summary["metric"])
    header = [f"{m} (headline)" if m == spec.headline.name else m for m in metrics]
    rows, emphasized = [], []
    for condition in ordered_conditions(spec, summary["condition"]):
        block = summary.loc[summary["condition"] == condition].set_index("metric")
        n_seeds = int(block["n_seeds"].max())
        cells = []
        for metric in metrics:
            if metric not in block.index:
                cells.append(MISSING)
                continue
            row = block.loc[metric]
            cell = format_interval(row["mean"], row["ci_low"], row["ci_high"], digits)
            if 0 < int(row["n_seeds"]) < n_seeds:
                cell += f" n={int(row['n_seeds'])}"
            cells.append(cell)
        role = str(block["role"].iloc[0])
        rows.append([condition, role, str(n_seeds), *cells])
        emphasized.append(role == "target")
    return TextTable(["condition", "role", "seeds", *header], rows, emphasized)


def contrasts_table(
    contrasts: pd.DataFrame, spec: ExperimentSpec, confidence: float, digits: int = 3
) -> TextTable:
    """One row per metric and control: the difference target - that control with its CI."""
    rows = []
    for metric in ordered_metrics(spec, contrasts["metric"]):
        block = contrasts.loc[contrasts["metric"] == metric]
        for control in ordered_conditions(spec, block["control"]):
            row = block.loc[block["control"] == control].iloc[0]
            rows.append(
                [
                    metric,
                    control,
                    format_interval(row["diff"], row["ci_low"], row["ci_high"], digits, True),
                    _pairing(row),
                ]
            )
    columns = ["metric", "control", f"difference [{ci_label(confidence)}]", "seeds"]
    return TextTable(columns, rows, [False] * len(rows))


def questions_table(
    question_summary: pd.DataFrame, spec: ExperimentSpec, metric: str, digits: int = 3
) -> TextTable:
    """Questions as rows and conditions as columns for one metric, cells 'mean [low, high]'."""
    block = question_summary.loc[question_summary["metric"] == metric]
    conditions = ordered_conditions(spec, block["condition"])
    cells = block.set_index(["question_id", "condition"])
    rows = []
    for question in ordered_questions(spec, block["question_id"]):
        row = [question]
        for condition in conditions:
            if (question, condition) not in cells.index:
                row.append(MISSING)
                continue
            values = cells.loc[(question, condition)]
            row.append(format_interval(values["mean"], values["ci_low"], values["ci_high"], digits))
        rows.append(row)
    return TextTable(["question", *conditions], rows, [False] * len(rows))


def ordered_questions(spec: ExperimentSpec, present: Iterable[str]) -> list[str]:
    """Question ids in the order the spec's evaluation sets list them, then any others."""
    present = list(dict.fromkeys(present))
    listed = [q.id for s in spec.evaluation.sets for q in s.questions]
    known = [q for q in dict.fromkeys(listed) if q in present]
    return known + [q for q in present if q not in known]


def _pairing(row: pd.Series) -> str:
    if row["paired"]:
        return f"{int(row['n_pairs'])} paired"
    return f"unpaired, {int(row['n_target'])} vs {int(row['n_control'])}"
