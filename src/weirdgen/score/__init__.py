"""Scorers: turn (messages, answer) into labels and numbers, as plug-ins by kind."""

from __future__ import annotations

import inspect
from pathlib import Path

from weirdgen.score.protocol import (
    JudgeCalls,
    ScoreItem,
    Scorer,
    ScoreValues,
    ScoringContext,
)
from weirdgen.score.registry import kinds, register_scorer, scorer_class
from weirdgen.spec.models import ScorerSpec


def build_scorer(spec: ScorerSpec, spec_dir: Path | None = None) -> Scorer:
    """The scorer a spec entry names, built from its kind's validated arguments; files it
    names (a judge's prompt_file) are read relative to ``spec_dir``."""
    cls = scorer_class(spec.kind)
    if "spec_dir" in inspect.signature(cls).parameters:
        return cls(spec.args, spec_dir=spec_dir)
    return cls(spec.args)


def score_one(scorer: Scorer, item: ScoreItem, context: ScoringContext | None = None):
    """One item's values (a convenience over ``score_batch`` for tests and notebooks)."""
    return scorer.score_batch([item], context or ScoringContext())[0]


__all__ = [
    "JudgeCalls",
    "ScoreItem",
    "ScoreValues",
    "Scorer",
    "ScoringContext",
    "build_scorer",
    "kinds",
    "register_scorer",
    "score_one",
]
