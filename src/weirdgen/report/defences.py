"""The Defences section: each defence's broad shift set against the narrow task it keeps.

A spec's defences become conditions ``<condition>.<defence>`` (role ``defended``, see
:mod:`weirdgen.defences`). For each one that is not an inoculation's leak condition, the
table has a row: the defence, its kind, the condition it defends, what it changed (read from
the run folder, see :mod:`weirdgen.report._defence_changes`), the broad shift (the headline
metric) with its interval, the undefended condition's, the shift removed (undefended −
defended, paired by seed, from :func:`weirdgen.stats.contrasts`), the narrow task (the
``narrow: true`` metric) and the undefended's, the valid rate (the metric whose score is the
headline's ``among`` column), and for an inoculation the headline in each leak condition
(``leak0`` the prompt itself at test time, ``leak1``... its paraphrases). Every number comes
from the report's own stats tables; the unit the intervals are over is a column (a finetune
seed in a run, a pretraining seed in a pooled report).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from weirdgen._atomic import write_text
from weirdgen.defences import DefenceTag
from weirdgen.report._defence_changes import what_changed
from weirdgen.report._tables import MISSING, TextTable, ci_label, format_interval, plain_rows
from weirdgen.report.document import FigureRef, Section
from weirdgen.spec.models import Condition, ExperimentSpec
from weirdgen.stats import contrasts

DEFENCES_CSV = "defences.csv"
FINETUNE_SEED = "finetune seed"
PRETRAINING_SEED = "pretraining seed"
_VALUES = ("mean", "ci_low", "ci_high")


class DefenceMetrics(NamedTuple):
    """The metrics a defence is judged by: the broad shift it should remove (the headline),
    the narrow task it should keep, and the valid rate beside the headline."""

    broad: str
    narrow: str | None
    valid: str | None


def defence_metrics(spec: ExperimentSpec) -> DefenceMetrics:
    """The headline, the ``narrow: true`` metric and the valid rate: a metric computed without
    ``by`` keys whose score is the headline's ``among`` column (on its evaluation set if one
    is), else the suite report's valid rate where it has no ``by`` keys."""
    headline, valid = spec.headline, None
    if headline.among is not None:
        candidates = [m for m in spec.metrics if m.score == headline.among and not m.by]
        candidates.sort(key=lambda m: m.eval_set != headline.eval_set)
        valid = candidates[0].name if candidates else None
    if valid is None:  # the suite report's valid rate, where it is a plain metric
        from weirdgen.report.suite import valid_rate

        found = valid_rate(spec)
        valid = found.metric if found is not None and not found.at else None
    narrow = spec.narrow.name if spec.narrow is not None else None
    return DefenceMetrics(headline.name, narrow, valid)


def tag_of(condition: Condition) -> DefenceTag:
    """The tag of a defended condition: which defence made it, of which condition."""
    assert condition.defence is not None, f"{condition.name} is not a defended condition"
    return condition.defence


def defended(spec: ExperimentSpec) -> list[Condition]:
    """The defended conditions that are not leak conditions, in spec order."""
    return [c for c in spec.conditions if c.defence is not None and c.defence.leak is None]


def leaks(spec: ExperimentSpec, condition: Condition) -> list[Condition]:
    """The leak conditions of the inoculation that made ``condition``, by leak number."""
    tag = tag_of(condition)
    found = [
        c
        for c in spec.conditions
        if c.defence is not None
        and c.defence.leak is not None
        and (c.defence.name, c.defence.of) == (tag.name, tag.of)
    ]
    return sorted(found, key=lambda c: tag_of(c).leak or 0)


def defences_table(
    spec: ExperimentSpec,
    summary: pd.DataFrame,
    units: pd.DataFrame,
    confidence: float,
    rates: Collection[str],
    folders: Sequence[Path],
    unit: str = FINETUNE_SEED,
) -> pd.DataFrame:
    """One row per defended condition (leak conditions are columns of their inoculation's).

    Args:
        spec: The spec as run, with its expanded conditions and defences.
        summary: Mean and interval per condition and metric (:func:`weirdgen.stats.summarize`).
        units: The value per condition, metric and unit the intervals are over (a finetune
            seed, or a pretraining seed's mean), in the ``seed`` column: what ``summary``
            summarizes.
        confidence: Confidence level of the shift removed's interval.
        rates: The metrics that are rates (their differences are clipped to [-1, 1]).
        folders: The run folders holding what each defence changed (one per pretraining seed
            for a pooled report).
        unit: What one ``seed`` of ``units`` is, written in the table.

    Returns:
        Columns defence, kind, condition, defends, changed, unit, n_units, then broad_metric,
        broad_mean, broad_ci_low, broad_ci_high, undefended_broad_* (the same for the
        condition defended), removed, removed_ci_low, removed_ci_high, removed_n_pairs,
        removed_paired, narrow_metric, narrow_*, undefended_narrow_*, valid_metric,
        valid_*, and for each leak K of any inoculation leakK_mean, leakK_ci_low,
        leakK_ci_high (empty for other defences).
    """
    metrics = defence_metrics(spec)
    summary, units = plain_rows(summary), plain_rows(units)
    values = summary.drop_duplicates(["condition", "metric"]).set_index(["condition", "metric"])
    removed = _removed(spec, units, metrics.broad, confidence, rates)
    rows = []
    for condition in defended(spec):
        tag = tag_of(condition)
        broad = _interval(values, condition.name, metrics.broad)
        row: dict[str, object] = {
            "defence": tag.name,
            "kind": tag.kind,
            "condition": condition.name,
            "defends": tag.of,
            "changed": what_changed(spec, condition, folders),
            "unit": unit,
            "n_units": _count(values, condition.name, metrics.broad),
            "broad_metric": metrics.broad,
            **_named("broad", broad),
            **_named("undefended_broad", _interval(values, tag.of, metrics.broad)),
            **removed.get(condition.name, _NO_CONTRAST),
            "narrow_metric": metrics.narrow,
            **_named("narrow", _interval(values, condition.name, metrics.narrow)),
            **_named("undefended_narrow", _interval(values, tag.of, metrics.narrow)),
            "valid_metric": metrics.valid,
            **_named("valid", _interval(values, condition.name, metrics.valid)),
        }
        for leak in leaks(spec, condition):
            number = tag_of(leak).leak
            row |= _named(f"leak{number}", _interval(values, leak.name, metrics.broad))
        rows.append(row)
    return pd.DataFrame(rows)


_NO_CONTRAST = {
    "removed": np.nan,
    "removed_ci_low": np.nan,
    "removed_ci_high": np.nan,
    "removed_n_pairs": 0,
    "removed_paired": False,
}


def _removed(
    spec: ExperimentSpec,
    units: pd.DataFrame,
    broad: str,
    confidence: float,
    rates: Collection[str],
) -> dict[str, dict[str, object]]:
    """Undefended − defended of the broad shift per defended condition, paired by unit."""
    table = units.loc[units["metric"] == broad]
    present = set(table["condition"])
    by_of: dict[str, list[str]] = {}
    for condition in defended(spec):
        of = tag_of(condition).of
        if condition.name in present and of in present:
            by_of.setdefault(of, []).append(condition.name)
    found = {}
    for of, names in by_of.items():
        rows = table.loc[table["condition"].isin([of, *names])]
        for row in contrasts(rows, of, names, confidence, rates=rates).itertuples():
            found[row.control] = {
                "removed": row.diff,
                "removed_ci_low": row.ci_low,
                "removed_ci_high": row.ci_high,
                "removed_n_pairs": row.n_pairs,
                "removed_paired": row.paired,
            }
    return found


def _interval(values: pd.DataFrame, condition: str, metric: str | None) -> tuple[float, ...]:
    if metric is None or (condition, metric) not in values.index:
        return (np.nan, np.nan, np.nan)
    row = values.loc[(condition, metric)]
    return tuple(float(row[v]) for v in _VALUES)


def _count(values: pd.DataFrame, condition: str, metric: str) -> int:
    if (condition, metric) not in values.index:
        return 0
    return int(values.loc[(condition, metric), "n_seeds"])


def _named(prefix: str, interval: tuple[float, ...]) -> dict[str, float]:
    return {f"{prefix}_{v}": value for v, value in zip(_VALUES, interval, strict=True)}


def leak_numbers(table: pd.DataFrame) -> list[int]:
    """The leak numbers K that ``table`` has columns ``leakK_mean`` for, in order."""
    found = (re.fullmatch(r"leak(\d+)_mean", column) for column in table.columns)
    return sorted(int(match.group(1)) for match in found if match)


def text_table(table: pd.DataFrame, confidence: float, digits: int = 3) -> TextTable:
    """The table as report cells: 'mean [low, high]', metric names in the headers when every
    row has the same (else beside the values), the experiment first when there is one."""
    ci = ci_label(confidence)
    cells = []
    experiment = "experiment" in table.columns
    mixed = table["unit"].nunique() > 1  # a suite of runs and pooled runs: each row says
    units = "seeds" if mixed else table["unit"].iloc[0] + "s"
    names = {m: _one(table, f"{m}_metric") for m in ("broad", "narrow", "valid")}
    has = {m: table[f"{m}_metric"].notna().any() for m in ("narrow", "valid")}
    headers = [*(["experiment"] if experiment else []), "defence", "kind", "defends"]
    headers += ["what it changed", units, f"broad shift{names['broad']} [{ci}]", "undefended"]
    headers.append(f"shift removed: undefended − defended, paired [{ci}]")
    if has["narrow"]:
        headers += [f"narrow task{names['narrow']} [{ci}]", "undefended"]
    if has["valid"]:
        headers.append(f"valid rate{names['valid']} [{ci}]")
    for row in table.to_dict("records"):
        line = [str(row["experiment"])] if experiment else []
        count = f"{row['n_units']} {row['unit']}s" if mixed else str(row["n_units"])
        line += [row["defence"], row["kind"], row["defends"], row["changed"], count]
        line += [_cell(row, "broad", digits, names), _cell(row, "undefended_broad", digits)]
        removed = format_interval(
            row["removed"], row["removed_ci_low"], row["removed_ci_high"], digits, signed=True
        )
        if not row["removed_paired"] and removed != MISSING:
            removed += " (unpaired)"
        line.append(removed)
        if has["narrow"]:
            line += [_cell(row, "narrow", digits, names), _cell(row, "undefended_narrow", digits)]
        if has["valid"]:
            line.append(_cell(row, "valid", digits, names))
        cells.append(line)
    return TextTable(headers, cells, [False] * len(cells))


def _one(table: pd.DataFrame, column: str) -> str:
    """': name' when every row of ``column`` is the same metric, else ''."""
    present = table[column].dropna().unique()
    return f": {present[0]}" if len(present) == 1 else ""


def _cell(row: dict, prefix: str, digits: int, names: dict[str, str] | None = None) -> str:
    text = format_interval(*(row[f"{prefix}_{v}"] for v in _VALUES), digits)
    metric = row.get(f"{prefix}_metric")
    if names is not None and not names[prefix] and isinstance(metric, str):
        text = f"{metric} {text}"  # the rows' metrics differ: each cell names its own
    return text


def leak_table(table: pd.DataFrame, confidence: float, digits: int = 3) -> TextTable:
    """A row per inoculation and leak: the broad shift with the prompt itself (leak0) or a
    paraphrase (leakK) as the test-time system prompt, beside the defended one without it."""
    ci = ci_label(confidence)
    experiment = "experiment" in table.columns
    headers = [*(["experiment"] if experiment else []), "defence", "asked with"]
    headers += [f"broad shift{_one(table, 'broad_metric')} [{ci}]", "without it (defended)"]
    rows = []
    for row in table.to_dict("records"):
        for number in leak_numbers(table):
            if pd.isna(row.get(f"leak{number}_mean")):
                continue
            said = "the prompt (leak0)" if number == 0 else f"paraphrase {number} (leak{number})"
            line = [str(row["experiment"])] if experiment else []
            line += [row["defence"], said, _cell(row, f"leak{number}", digits)]
            rows.append([*line, _cell(row, "broad", digits)])
    return TextTable(headers, rows, [False] * len(rows))


def defences_section(
    table: pd.DataFrame,
    interval: str,
    confidence: float,
    figure: FigureRef | None,
    data_file: str = DEFENCES_CSV,
) -> Section:
    """The section of a report: what the table shows, the table, the leaks, the figure."""
    ci = ci_label(confidence)
    broad = _one(table, "broad_metric").removeprefix(": ") or "each experiment's headline"
    narrow = _one(table, "narrow_metric").removeprefix(": ")
    if narrow:
        keep = f", against the narrow task it should keep (`{narrow}`)"
    elif table["narrow_metric"].notna().any():
        keep = ", against the narrow task it should keep (each experiment's `narrow: true`)"
    else:
        keep = " (the spec marks no narrow-task metric: `narrow: true`)"
    unit = table["unit"].iloc[0] if table["unit"].nunique() == 1 else "seed"
    text = (
        f"Each defence as a condition of its own: its broad shift (`{broad}`), which it "
        f"should remove{keep}, beside the condition it defends (undefended). The shift "
        f"removed is undefended − defended, paired by {unit}: an interval above 0 means the "
        f"defence removed more of the shift than the variation between {unit}s. Means over "
        f"{unit}s [{ci}]; intervals: {interval}. {data_file} has every number."
    )
    tables = [(f"Defences (mean over {unit}s [{ci}])", text_table(table, confidence))]
    leak = leak_table(table, confidence)
    if leak.rows:
        caption = "Leak: the inoculation prompt (or a paraphrase) as the test-time system prompt"
        tables.append((caption, leak))
    figures = (figure,) if figure is not None else ()
    return Section("Defences", text, tuple(tables), figures)


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write ``table`` as CSV at ``path`` atomically."""
    write_text(path, table.to_csv(index=False))
    return path
