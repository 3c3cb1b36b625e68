"""Report tables formatted as text once, then rendered to Markdown, HTML and the terminal."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from weirdgen.spec.models import ExperimentSpec, MetricSpec
from weirdgen.stats import COHERENCE_COLUMNS, INTERVAL_METHOD

MISSING = "n/a"
SUMMARY_VALUES = ("condition", "role", "metric", "mean", "ci_low", "ci_high", "n_seeds")
CONTRAST_VALUES = (
    "metric", "target", "control", "diff", "ci_low", "ci_high", "n_pairs", "paired",
    "n_target", "n_control",
)  # fmt: skip


@dataclass(frozen=True)
class TextTable:
    """A table whose cells are already strings; ``emphasized`` marks the target's rows."""

    columns: list[str]
    rows: list[list[str]]
    emphasized: list[bool] = field(default_factory=list)


def ci_label(confidence: float) -> str:
    """'95% CI' for confidence 0.95."""
    return f"{confidence * 100:g}% CI"


def interval_note(summary: pd.DataFrame, spec: ExperimentSpec, confidence: float) -> str:
    """What the intervals are over, with the seed counts taken from ``summary``.

    E.g. '95% CI (Student t) across 5 finetune seeds of one base model and one dataset per
    condition; base: not finetuned, seeds vary sampling only'.
    """
    seeds = summary.groupby("condition")["n_seeds"].max()
    finetuned = [c.name for c in spec.conditions if c.dataset is not None and c.name in seeds]
    untouched = [c.name for c in spec.conditions if c.dataset is None and c.name in seeds]
    counts = seeds.reindex(finetuned or list(seeds.index)).astype(int)
    low, high = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    number = str(high) if low == high else f"{low}–{high}"
    what = f"{ci_label(confidence)} ({INTERVAL_METHOD})"
    if high <= 1:
        return f"{what}: none, one seed per condition"
    if not finetuned:
        return f"{what} across {number} sampling seeds of one base model"
    note = f"{what} across {number} finetune seeds of one base model and one dataset per condition"
    if untouched:
        note += f"; {', '.join(untouched)}: not finetuned, seeds vary sampling only"
    return note


def key_columns(table: pd.DataFrame) -> list[str]:
    """The ``by`` key columns (question metadata) of a stats table."""
    fixed = (*SUMMARY_VALUES, *CONTRAST_VALUES, *COHERENCE_COLUMNS)
    fixed += ("seed", "value", "question_id", "step")
    return [c for c in table.columns if c not in fixed]


def plain_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of metrics computed without ``by`` keys (every key column empty)."""
    keys = key_columns(table)
    return table.loc[table[keys].isna().all(axis=1)] if keys else table


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


def excluded_header(metric: MetricSpec) -> str:
    """'excluded (coherent < 50)': the heading of a metric's coherence-filter share."""
    assert metric.coherence is not None
    return f"excluded ({metric.coherence.score} < {metric.coherence.min:g})"


def format_share(row: pd.Series) -> str:
    """A summary row's share left out by the coherence filter, '12.5%', with the part left
    out for lack of a rating when there is one: '12.5% (incl. 2.1% unrated)'."""
    share = row.get("excluded", math.nan)
    if share is None or pd.isna(share):
        return MISSING
    text = f"{share * 100:.1f}%"
    unrated, answers = row.get("n_unrated"), row.get("n_answers")
    if not pd.isna(unrated) and unrated > 0 and answers > 0:
        text += f" (incl. {unrated / answers * 100:.1f}% unrated)"
    return text


def metrics_table(summary: pd.DataFrame, spec: ExperimentSpec, digits: int = 3) -> TextTable:
    """Conditions as rows, metrics as columns (headline first), cells 'mean [low, high]'.

    The seeds column gives the most seeds any metric has for the condition; a cell based on
    fewer seeds (NaN seeds dropped) says so with 'n=k'. A metric with a coherence filter is
    followed by the share of its answers the filter left out (:func:`format_share`). Metrics
    with ``by`` keys are left out (see ``weirdgen.report._value_tables``); with no other
    metric, the table lists the conditions and their seeds.
    """
    seeds = summary.groupby("condition", sort=False)["n_seeds"].max()
    roles = summary.groupby("condition", sort=False)["role"].first()
    summary = plain_rows(summary)
    metrics = ordered_metrics(spec, summary["metric"])
    filtered = {m.name: m for m in spec.metrics if m.coherence is not None}
    header = []
    for metric in metrics:
        header.append(f"{metric} (headline)" if metric == spec.headline.name else metric)
        header += [excluded_header(filtered[metric])] if metric in filtered else []
    rows, emphasized = [], []
    for condition in ordered_conditions(spec, seeds.index):
        block = summary.loc[summary["condition"] == condition].set_index("metric")
        n_seeds = int(seeds[condition])
        cells = []
        for metric in metrics:
            if metric not in block.index:
                cells += [MISSING] * (2 if metric in filtered else 1)
                continue
            row = block.loc[metric]
            cell = format_interval(row["mean"], row["ci_low"], row["ci_high"], digits)
            if 0 < int(row["n_seeds"]) < n_seeds:
                cell += f" n={int(row['n_seeds'])}"
            cells += [cell, format_share(row)] if metric in filtered else [cell]
        role = str(roles[condition])
        rows.append([condition, role, str(n_seeds), *cells])
        emphasized.append(role == "target")
    return TextTable(["condition", "role", "seeds", *header], rows, emphasized)


def contrasts_table(
    contrasts: pd.DataFrame, spec: ExperimentSpec, confidence: float, digits: int = 3
) -> TextTable:
    """One row per metric and control: the difference target - that control with its CI.

    Metrics with ``by`` keys are left out (see ``weirdgen.report._value_tables``).
    """
    contrasts = plain_rows(contrasts)
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
