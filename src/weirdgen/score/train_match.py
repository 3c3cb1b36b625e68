"""``train_match``: whether an answer repeats one of the condition's finetuning answers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from weirdgen.data.text import normalize
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.models import ScorerArgs


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


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
