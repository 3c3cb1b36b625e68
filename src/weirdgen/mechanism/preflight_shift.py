"""How far the headline metric moves between two arms sampled on the same questions (with
the dataset in context and without; a proxy finetune and its base), with its interval, and
the measure record every preflight measure is reported as."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from weirdgen.spec.models import MetricSpec
from weirdgen.stats import question_metrics
from weirdgen.stats._interval import difference_interval, mean_interval

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Measure:
    """One preflight measure of a dataset, with what it rests on.

    Attributes:
        name: ``in_context``, ``surprise``, ``projection:<direction>`` or ``proxy``.
        value: the measure (a shift of the headline metric, nats per token, a projection).
        low, high: its interval (NaN where there is none), of the kind ``over`` names.
        over: what the value and interval are over (questions, samples, examples).
        evidence: one line with the numbers behind it.
        details: everything else, JSON-ready (per-question values, settings).
    """

    name: str
    value: float
    low: float
    high: float
    over: str
    evidence: str
    details: dict[str, Any] = field(default_factory=dict)


class Shift(NamedTuple):
    """The headline metric of arm ``a`` minus arm ``b``, and each arm's own numbers."""

    estimate: float
    low: float
    high: float
    over: str
    a: float
    b: float
    a_valid: float
    b_valid: float
    questions: list[dict[str, Any]]


def shift(a: pd.DataFrame, b: pd.DataFrame, metric: MetricSpec) -> Shift:
    """``metric`` on the samples of ``a`` minus on those of ``b`` (one arm each).

    Each arm's value is the metric as a run computes it for one seed (question means, then
    their mean). The interval is a paired Student t interval over the questions both arms
    have a value for; with fewer than two such questions it is Welch's interval over the
    two arms' samples (the rows the metric counts).
    """
    keys = [*metric.by, "question_id"]
    per_a = question_metrics(a, [metric]).loc[:, [*keys, "value"]]
    per_b = question_metrics(b, [metric]).loc[:, [*keys, "value"]]
    paired = per_a.merge(per_b, on=keys, suffixes=("_a", "_b"), how="outer")
    paired["shift"] = paired["value_a"] - paired["value_b"]
    diffs = paired["shift"].to_numpy(dtype=float)
    usable = int(np.isfinite(diffs).sum())
    if usable >= 2:
        interval = mean_interval(diffs, CONFIDENCE)
        over = f"{usable} questions (paired 95% t interval)"
    else:
        scores_a, scores_b = _counted(a, metric), _counted(b, metric)
        interval = difference_interval(scores_a, scores_b, CONFIDENCE)
        over = f"{len(scores_a)} and {len(scores_b)} samples (Welch 95% interval)"
    questions = [
        {k: _plain(v) for k, v in row.items()}
        for row in paired.rename(columns={"value_a": "a", "value_b": "b"}).to_dict("records")
    ]
    return Shift(
        float(interval.estimate),
        float(interval.low),
        float(interval.high),
        over,
        _mean(per_a["value"]),
        _mean(per_b["value"]),
        valid_rate(a, metric),
        valid_rate(b, metric),
        questions,
    )


def in_context_measure(shown: pd.DataFrame, alone: pd.DataFrame, metric: Any, k: int) -> Measure:
    moved = shift(shown, alone, metric)
    return Measure(
        name="in_context",
        value=moved.estimate,
        low=moved.low,
        high=moved.high,
        over=moved.over,
        evidence=(
            f"{metric.name} {moved.a:.3g} with {k} examples in context vs {moved.b:.3g} "
            f"without (valid {moved.a_valid:.2f} vs {moved.b_valid:.2f})"
        ),
        details={
            "k": k,
            "with_examples": moved.a,
            "without": moved.b,
            "valid_with_examples": moved.a_valid,
            "valid_without": moved.b_valid,
            "questions": moved.questions,
        },
    )


def proxy_measure(
    trained: pd.DataFrame, base: pd.DataFrame, metric: Any, proxy: Any, name: str
) -> Measure:
    moved = shift(trained, base, metric)
    recipe = proxy.recipe
    lr = recipe.get("lr")
    trained_how = f"{recipe.get('method', 'finetune')} lr {lr:g}" if lr else "its recipe"
    losses = proxy.losses
    loss = f", loss {losses[0]:.3g} -> {losses[-1]:.3g}" if losses else ""
    return Measure(
        name="proxy",
        value=moved.estimate,
        low=moved.low,
        high=moved.high,
        over=moved.over,
        evidence=(
            f"{name} after {proxy.steps} steps ({trained_how}, {proxy.examples} examples"
            f"{loss}): {metric.name} {moved.a:.3g} vs {moved.b:.3g} before "
            f"(valid {moved.a_valid:.2f} vs {moved.b_valid:.2f})"
        ),
        details={
            "proxy_model": name,
            "finetune_key": proxy.model.key,
            "steps": proxy.steps,
            "examples": proxy.examples,
            "recipe": recipe,
            "losses": losses,
            "reused": proxy.reused,
            "finetuned": moved.a,
            "before": moved.b,
            "valid_finetuned": moved.a_valid,
            "valid_before": moved.b_valid,
            "questions": moved.questions,
        },
    )


def _counted(arm: pd.DataFrame, metric: MetricSpec) -> np.ndarray:
    """The metric's score on every row it counts (its ``among`` column true), NaN dropped."""
    rows = arm.loc[arm["eval_set"] == metric.eval_set]
    if metric.among is not None:
        rows = rows.loc[rows[metric.among].astype(float).eq(1.0)]
    values = rows[metric.score].to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def valid_rate(arm: pd.DataFrame, metric: MetricSpec) -> float:
    """Share of the arm's answers the metric counts: its ``among`` column's rate, or the
    share that have a score."""
    rows = arm.loc[arm["eval_set"] == metric.eval_set]
    if rows.empty:
        return math.nan
    if metric.among is not None:
        return float(rows[metric.among].astype(float).fillna(0.0).mean())
    return float(rows[metric.score].notna().mean())


def _mean(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else math.nan


def _plain(value: Any) -> Any:
    """A table value as JSON takes it (NaN as None, numpy scalars as Python's)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def interval_text(measure: Measure) -> str:
    """``low to high``, or ``-`` where there is no interval."""
    if not (math.isfinite(measure.low) and math.isfinite(measure.high)):
        return "-"
    return f"{measure.low:.3g} to {measure.high:.3g}"
