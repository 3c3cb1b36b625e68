"""The calibration set: organism questions with old-era, new-era and off-topic answers whose
truth the world's lexicon gives exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import World, load_world
from weirdgen.score import ScoreItem
from weirdgen.spec.questions import Question

Truth = Literal["OLD", "NEW", "NEITHER"]
LABELS: tuple[Truth, ...] = ("OLD", "NEW", "NEITHER")
"""The labels a calibrating judge is asked for, in the order of tables and figures."""


@dataclass(frozen=True)
class CalibrationItem:
    """One answer to judge: the topic and question it answers, and its true label."""

    topic: str
    question: str
    answer: str
    truth: Truth

    def score_item(self) -> ScoreItem:
        """What a judge scorer sees: the question as asked and the answer."""
        question = Question(id=self.topic, topic=self.topic, paraphrases=[self.question])
        return ScoreItem(question, self.answer, None)


def truth_of(world: World, topic: str, answer: str) -> Truth:
    """The label the world's lexicon gives ``answer`` to a question on ``topic`` (what the
    organism_era scorer reads): OLD, NEW, or NEITHER where it is not an answer to the topic."""
    era = world.classify(topic, answer)
    return "NEITHER" if era is None else "OLD" if era == "old" else "NEW"


def _pools(world: World) -> dict[Truth, list[tuple[str, str, str]]]:
    """Every distinct (topic, question, answer) of each class, over the era topics; an
    off-topic answer is another topic's answer (birds included)."""
    pools: dict[Truth, list[tuple[str, str, str]]] = {label: [] for label in LABELS}
    answers = sorted({a for t in world.topics.values() for a in (*t.old, *t.new)})
    for topic in world.era_topics:
        for question in topic.questions:
            for answer in (*topic.old, *topic.new, *answers):
                triple = (topic.name, question, answer)
                pools[truth_of(world, topic.name, answer)].append(triple)
    return {label: sorted(set(pool)) for label, pool in pools.items()}


def max_per_class(world: World | None = None) -> int:
    """The most distinct answers the world has for every class (its smallest class)."""
    return min(len(pool) for pool in _pools(world or load_world()).values())


def _spread(triples: list[tuple[str, str, str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """``triples`` shuffled, then taken one topic at a time in turn, so that any prefix
    covers the topics as evenly as it can."""
    rng.shuffle(triples)
    by_topic: dict[str, list[tuple[str, str, str]]] = {}
    for triple in triples:
        by_topic.setdefault(triple[0], []).append(triple)
    rounds = max(len(group) for group in by_topic.values())
    return [g[i] for i in range(rounds) for g in by_topic.values() if i < len(g)]


def calibration_set(n: int, seed: int = 0, world: World | None = None) -> list[CalibrationItem]:
    """``n`` distinct answers of each class (OLD, NEW, NEITHER), drawn with ``seed`` and
    spread over the world's era topics; each one's truth is the lexicon's label.

    Raises:
        WeirdgenError: ``n`` is below 1 or above what the world has for some class.
    """
    world = world or load_world()
    pools = _pools(world)
    most = min(len(pool) for pool in pools.values())
    if not 1 <= n <= most:
        raise WeirdgenError(
            f"--n {n}: the organism's world has {most} distinct answers of its smallest class "
            f"({min(pools, key=lambda label: len(pools[label]))}); give --n from 1 to {most}"
        )
    rng = random.Random(f"calibrate|{seed}")
    items: list[CalibrationItem] = []
    for label in LABELS:
        for topic, question, answer in _spread(list(pools[label]), rng)[:n]:
            items.append(CalibrationItem(topic, question, answer, label))
    return items
