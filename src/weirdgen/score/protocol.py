"""The scorer interface: (question, answer) in, named score columns out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from weirdgen.spec.questions import Question

ScoreValues = dict[str, float | bool | None]


@dataclass(frozen=True)
class ScoreItem:
    """What a scorer sees of one sample.

    ``train_answers`` holds the normalized assistant answers of the condition's finetuning
    data, or None for a condition without finetuning.
    """

    question: Question
    answer: str
    train_answers: frozenset[str] | None


class Scorer(Protocol):
    """Adds columns to every sample. ``key`` changes whenever the scores could change."""

    name: str
    key: str
    columns: tuple[str, ...]

    def score(self, item: ScoreItem) -> ScoreValues: ...
