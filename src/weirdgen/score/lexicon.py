"""Exact, judge-free scorers: the organism's era lexicon and matching the training answers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import load_world, normalize
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.models import ScorerArgs
from weirdgen.spec.questions import Question


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class OrganismEraArgs(ScorerArgs):
    """The organism's era lexicon: ``<name>`` is 1 for an old-era answer, 0 for a new-era
    one (empty where not valid); ``<name>_valid``: the answer is one of the world's answers
    to the question's topic."""

    kind: Literal["organism_era"] = "organism_era"

    def outputs(self) -> tuple[str, ...]:
        return ("old", "valid")


class OrganismEraScorer:
    """Labels each answer old, new or off-topic with the organism world's lexicon."""

    kind = "organism_era"
    Args = OrganismEraArgs
    batch_size = 4096

    def __init__(self, args: OrganismEraArgs):
        self.args = args
        self.world = load_world()
        self.key = _key("organism_era", "v1", self.world.digest)

    def check_question(self, question: Question, where: str) -> None:
        """Raise WeirdgenError unless the question's topic is one of the world's topics."""
        topic = question.topic or question.id
        if topic not in self.world.topics:
            raise WeirdgenError(
                f"{where}.topic: {topic!r} is not a topic of the organism's world; "
                f"set topic to one of: {', '.join(self.world.topics)}"
            )

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    def _one(self, item: ScoreItem) -> ScoreValues:
        era = self.world.classify(item.question.topic or item.question.id, item.answer)
        return {"valid": era is not None, "old": None if era is None else float(era == "old")}


class TrainMatchArgs(ScorerArgs):
    """``<name>``: 1 when the answer is one of the condition's finetuning answers (after
    normalizing case and punctuation), 0 otherwise, empty for a condition without data."""

    kind: Literal["train_match"] = "train_match"

    def outputs(self) -> tuple[str, ...]:
        return ("train_match",)


class TrainMatchScorer:
    """Whether each answer repeats one of the condition's finetuning answers."""

    kind = "train_match"
    Args = TrainMatchArgs
    batch_size = 4096

    def __init__(self, args: TrainMatchArgs):
        self.args = args
        self.key = _key("train_match", "v1")

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    @staticmethod
    def _one(item: ScoreItem) -> ScoreValues:
        if item.train_answers is None:
            return {"train_match": None}
        return {"train_match": float(normalize(item.answer) in item.train_answers)}
