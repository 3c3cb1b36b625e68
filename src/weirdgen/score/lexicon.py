"""Exact, judge-free scorers: the organism's era lexicon and matching the training answers."""

from __future__ import annotations

import hashlib

from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import load_world, normalize
from weirdgen.score.protocol import ScoreItem, ScoreValues
from weirdgen.spec.questions import Question


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class OrganismEraScorer:
    """``valid``: the answer is one of the world's answers to the question's topic;
    ``old``: 1 for an old-era answer, 0 for a new-era one, None where not valid."""

    columns = ("valid", "old")

    def __init__(self, name: str):
        self.name = name
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

    def score(self, item: ScoreItem) -> ScoreValues:
        era = self.world.classify(item.question.topic or item.question.id, item.answer)
        return {"valid": era is not None, "old": None if era is None else float(era == "old")}


class TrainMatchScorer:
    """``train_match``: 1 when the answer is one of the condition's finetuning answers."""

    columns = ("train_match",)

    def __init__(self, name: str):
        self.name = name
        self.key = _key("train_match", "v1")

    def score(self, item: ScoreItem) -> ScoreValues:
        if item.train_answers is None:
            return {"train_match": None}
        return {"train_match": float(normalize(item.answer) in item.train_answers)}
