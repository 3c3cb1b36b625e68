"""answers.html: every sampled answer in one file, filterable in the browser with no server.

The samples table is embedded as compact JSON, one array per column: a column with repeated
values (condition, seed, question, metadata, most scores) is a dictionary of its distinct
values, formatted once here, and one integer code per row; a numeric column with many
distinct values (a judge's 0-100 rating) is a plain array of numbers; a column of mostly
unique text (long answers) is a plain array of strings. browser.js reads it, filters by
scanning the code arrays, and draws one page of rows at a time, so 100,000 answers stay
fast. The page reads its filters from the URL fragment (see :mod:`weirdgen.report.answer_links`),
which is how the report's figures link a bar to its answers.

Every value reaches the page as JSON data and is shown with ``textContent``: model output is
untrusted and never becomes markup.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.spec.models import ExperimentSpec

ANSWERS_HTML = "answers.html"
"""The browser's file name in the run folder, beside report.html."""

MISSING = "(missing)"
"""How the page shows, and the URL fragment names, a missing value."""

MAX_DISTINCT_NUMBERS = 200
"""A numeric column with more distinct values is sent as numbers and filtered by range only."""

_LEFT_OUT = ("experiment", "role")
"""Constant per run (experiment) or given by the condition (role): not worth a column."""
_SEARCHED = ("answer", "prompt")
_DETAIL_ONLY = ("model_key", "paraphrase_index", "sample_index", "messages", "finish_reason")
"""Shown when a row is opened, not as table columns."""
_NO_FILTER = ("answer", "prompt", "messages", "model_key", "sample_index")
_RUN_COLUMNS = ("messages", "step", "final", "finish_reason")


def format_value(value: object) -> str:
    """A value as the page shows it and as a link's filter names it: whole numbers without
    a decimal point (1850, not 1850.0), flags as true/false, other numbers to 6 digits."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else f"{number:.6g}"
    return str(value)


def score_columns(spec: ExperimentSpec, samples: pd.DataFrame) -> list[str]:
    """The columns the spec's scorers wrote, in the spec's order, those present only."""
    names: list[str] = []
    for scorer in spec.scorers:
        try:
            columns = list(scorer.columns().values())
        except NotImplementedError:
            columns = [c for c in samples if c == scorer.name or c.startswith(f"{scorer.name}_")]
        names += [c for c in columns if c in samples and c not in names]
    return names


def render_answers_html(samples: pd.DataFrame, spec: ExperimentSpec) -> str:
    """The whole answers.html page for ``samples``: data, script and style inline."""
    payload = json.dumps(encode_samples(samples, spec), ensure_ascii=False, separators=(",", ":"))
    # "<" as an escape keeps "</script>" or "<!--" inside an answer from ending the data block.
    payload = payload.replace("<", "\\u003c")
    title = html.escape(f"{spec.name}: every answer")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_asset('browser.css')}</style>\n</head>\n<body>\n"
        f'<h1>{title}</h1>\n<p class="back"><a href="report.html">back to the report</a></p>\n'
        '<div id="filters"></div>\n<div id="status"></div>\n<div id="pages"></div>\n'
        '<table id="answers"><thead></thead><tbody></tbody></table>\n'
        f'<script type="application/json" id="answers-data">{payload}</script>\n'
        f"<script>{_asset('browser.js')}</script>\n</body>\n</html>\n"
    )


def encode_samples(samples: pd.DataFrame, spec: ExperimentSpec) -> dict[str, Any]:
    """The page's data: row count, the columns (see the module doc) and their roles.

    ``table`` lists the columns shown as table columns, ``filters`` those given a filter
    control (grouped by ``scores``), ``search`` those the free-text search reads.
    """
    scores = score_columns(spec, samples)
    metadata = [
        c for c in samples if c not in SAMPLE_COLUMNS and c not in _RUN_COLUMNS and c not in scores
    ]
    names = [c for c in samples if c not in _LEFT_OUT]
    order = {"condition": [c.name for c in spec.conditions]}
    columns = [_encode_column(name, samples[name], order.get(name)) for name in names]
    has_steps = "final" in samples and not samples["final"].eq(True).all()
    table = ["condition", "seed", "eval_set", "question_id", "prompt", "answer", *metadata]
    table += (["step"] if has_steps else []) + scores
    return {
        "rows": len(samples),
        "columns": columns,
        "table": [c for c in table if c in names and c not in _DETAIL_ONLY],
        "filters": [c for c in names if c not in _NO_FILTER],
        "scores": scores,
        "search": [c for c in _SEARCHED if c in names],
    }


def _encode_column(name: str, series: pd.Series, order: list[str] | None) -> dict[str, Any]:
    missing = series.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (a list in an object column): shown as text
        series = series.map(lambda value: value if value is None else str(value))
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    column: dict[str, Any] = {"name": name, "numeric": bool(numeric), "missing": int(missing.sum())}
    if numeric and len(uniques) > MAX_DISTINCT_NUMBERS:
        values = series.to_numpy(dtype=float, na_value=np.nan)
        column["numbers"] = [None if math.isnan(v) else v for v in values.tolist()]
        return column
    if not numeric and len(uniques) > len(series) / 2:
        texts = series.tolist()
        column["texts"] = [None if m else str(v) for v, m in zip(texts, missing, strict=True)]
        return column
    labels = [format_value(v) for v in uniques.tolist()]
    distinct = _sorted_labels(set(labels), numeric, order)
    position = {label: i for i, label in enumerate(distinct)}
    recode = np.array([position[label] for label in labels] + [-1], dtype=np.int64)
    column["values"] = distinct
    column["codes"] = recode[codes].tolist()  # the sentinel -1 picks the appended -1
    return column


def _sorted_labels(labels: set[str], numeric: bool, order: list[str] | None) -> list[str]:
    if numeric:
        return sorted(labels, key=float)
    if order is not None:
        rank = {value: i for i, value in enumerate(order)}
        return sorted(labels, key=lambda label: (rank.get(label, len(rank)), label))
    return sorted(labels)


def _asset(name: str) -> str:
    return resources.files("weirdgen.report").joinpath(name).read_text(encoding="utf-8")
