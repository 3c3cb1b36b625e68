"""Every statistic a report shows, computed once from the tidy samples table."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from weirdgen.report._tables import interval_note
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import (
    contrasts,
    emptiness_warnings,
    left_out,
    metric_keys,
    question_metrics,
    rate_metrics,
    seed_metrics,
    step_metrics,
    summarize,
)
from weirdgen.stats.truncation import truncation_warnings


class ReportData(NamedTuple):
    """The stats tables of one run, and what their intervals are over."""

    per_seed: pd.DataFrame
    per_question: pd.DataFrame
    summary: pd.DataFrame
    question_summary: pd.DataFrame
    differences: pd.DataFrame
    keyed: dict[str, list[str]]
    """Each metric computed by ``by`` keys that has values, with its keys, in spec order."""
    step_seeds: pd.DataFrame | None
    """The headline metric per condition, seed and training step; None without checkpoints."""
    step_summary: pd.DataFrame | None
    interval: str
    """E.g. '95% CI (Student t) across 5 finetune seeds of one base model and ...'."""
    warnings: tuple[str, ...] = ()
    """Metrics with no or mostly invalid answers in a condition, or answers without a score
    (:func:`emptiness_warnings`)."""
    left_out: pd.DataFrame | None = None
    """Every metric's answers per condition and those its mean leaves out, by reason
    (:func:`weirdgen.stats.left_out`)."""
    rates: tuple[str, ...] = ()
    """The metrics that are rates (:func:`weirdgen.stats.rate_metrics`)."""


def has_checkpoints(samples: pd.DataFrame) -> bool:
    """True when the table has rows of intermediate checkpoints (``final`` False)."""
    return {"step", "final"} <= set(samples.columns) and bool(samples["final"].eq(False).any())


def compute(spec: ExperimentSpec, samples: pd.DataFrame, confidence: float) -> ReportData:
    """Per-seed metrics, summaries, contrasts, the headline per question and per step, and
    the warnings about metrics with few or no valid answers, and the answers each metric
    leaves out.

    The training curve is the headline metric over all of its evaluation set's questions
    (pooled over its ``by`` values, if it has any), at every checkpoint of every seed.
    """
    keys = metric_keys(spec.metrics)
    rates = rate_metrics(samples, spec.metrics)
    per_seed = seed_metrics(samples, spec.metrics)
    per_question = question_metrics(samples, spec.metrics)
    headline = spec.headline
    question_summary = summarize(
        per_question.loc[per_question["metric"] == headline.name],
        confidence,
        by=[*headline.by, "question_id"],
        rates=rates,
    )
    step_seeds = step_summary = None
    if has_checkpoints(samples):
        step_seeds = step_metrics(samples, [headline.model_copy(update={"by": []})])
        step_summary = summarize(step_seeds, confidence, by=["step"], rates=rates)
    summary = summarize(per_seed, confidence, by=keys, rates=rates)
    return ReportData(
        per_seed=per_seed,
        per_question=per_question,
        summary=summary,
        question_summary=question_summary,
        differences=contrasts(
            per_seed,
            spec.target.name,
            [c.name for c in spec.controls],
            confidence,
            by=keys,
            rates=rates,
        ),
        keyed={
            m.name: list(m.by) for m in spec.metrics if m.by and summary["metric"].eq(m.name).any()
        },
        step_seeds=step_seeds,
        step_summary=step_summary,
        interval=interval_note(summary, spec, confidence),
        warnings=(
            *emptiness_warnings(samples, spec.metrics, spec.empty_by_design()),
            *truncation_warnings(samples),
        ),
        left_out=left_out(samples, spec.metrics, spec.empty_by_design()),
        rates=tuple(rates),
    )
