"""Scorers: turn (question, answer) into labels and numbers."""

from __future__ import annotations

from weirdgen.score.lexicon import OrganismEraScorer, TrainMatchScorer
from weirdgen.score.protocol import ScoreItem, Scorer, ScoreValues
from weirdgen.spec.models import ScorerSpec

SCORERS = {"organism_era": OrganismEraScorer, "train_match": TrainMatchScorer}


def build_scorer(spec: ScorerSpec) -> Scorer:
    """The scorer a spec entry names."""
    return SCORERS[spec.kind](spec.name)


__all__ = [
    "ScoreItem",
    "ScoreValues",
    "Scorer",
    "build_scorer",
    "OrganismEraScorer",
    "TrainMatchScorer",
]
