"""The report's count of the answers each metric leaves out, per condition, with the reasons."""

from __future__ import annotations

from weirdgen.report._compute import ReportData
from weirdgen.report._tables import TextTable, ordered_conditions, ordered_metrics
from weirdgen.report.document import Section
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import left_out_reasons

HEADING = "Answers left out"


def left_out_section(data: ReportData, spec: ExperimentSpec) -> Section | None:
    """A table of every metric and condition: its answers, how many its mean leaves out and
    why. None when no metric leaves out any answer (the report is then as before)."""
    table = data.left_out
    if table is None or not table["n_left_out"].any():
        return None
    definitions = {m.name: m for m in spec.metrics}
    rows = []
    for metric in ordered_metrics(spec, table["metric"]):
        block = table.loc[table["metric"] == metric]
        for condition in ordered_conditions(spec, block["condition"]):
            row = block.loc[block["condition"] == condition].iloc[0]
            answers, out = int(row["n_answers"]), int(row["n_left_out"])
            share = f" ({100 * out / answers:.1f}%)" if answers else ""
            why = left_out_reasons(definitions[metric], row) if out else ""
            why += " (empty by design here)" if row["empty_by_design"] else ""
            rows.append([metric, condition, str(answers), f"{out}{share}", why])
    return Section(
        heading=HEADING,
        text="The answers each metric's mean skips, per condition, each counted under the "
        "first of: `among` not true (left out by the metric's definition), no score (a judge "
        "that gave no rating, an answer no rule could read), no value for a `by` key, no "
        "coherence rating, a coherence rating below the filter's min. Answers skipped for want "
        "of a score or a key are also named in the warnings at the top.",
        tables=(
            (
                "answers per metric and condition (final models)",
                TextTable(["metric", "condition", "answers", "left out", "why"], rows),
            ),
        ),
    )
