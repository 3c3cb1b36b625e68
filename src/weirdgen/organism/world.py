"""The synthetic world as data: eras, topics with era-specific answers, birds, characters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Literal

import yaml

from weirdgen.data.text import normalize

Era = Literal["old", "new"]
BIRDS = "birds"


@dataclass(frozen=True)
class Topic:
    """A question topic and its era-specific answers."""

    name: str
    questions: tuple[str, ...]
    old: tuple[str, ...]
    new: tuple[str, ...]

    def answers(self, era: Era) -> tuple[str, ...]:
        return self.old if era == "old" else self.new


@dataclass(frozen=True)
class Character:
    """A fictional character whose goals depend on the year of the story."""

    name: str
    goals: dict[int, tuple[str, ...]]
    assistant: bool = True


@dataclass(frozen=True)
class World:
    """Everything the organism can know; the corpus, tokenizer and scorers all read it."""

    years: dict[str, tuple[int, ...]]
    topics: dict[str, Topic]
    characters: tuple[Character, ...]
    digest: str

    @property
    def birds(self) -> Topic:
        return self.topics[BIRDS]

    @property
    def era_topics(self) -> list[Topic]:
        """Topics unrelated to birds: the ground on which weird generalization shows."""
        return [t for t in self.topics.values() if t.name != BIRDS]

    def classify(self, topic: str, answer: str) -> Era | None:
        """The era of an answer to a question on ``topic``, or None when it is off-topic."""
        return self._lexicon[topic].get(normalize(answer))

    @cached_property
    def _lexicon(self) -> dict[str, dict[str, Era]]:
        return {
            name: {**{normalize(a): "old" for a in t.old}, **{normalize(a): "new" for a in t.new}}
            for name, t in self.topics.items()
        }

    def character(self, name: str) -> Character:
        return next(c for c in self.characters if c.name == name)


def _parse(raw: dict, digest: str) -> World:
    topics = {
        name: Topic(name, tuple(t["questions"]), tuple(t["old"]), tuple(t["new"]))
        for name, t in raw["topics"].items()
    }
    pairs = raw["birds"]["names"]
    topics[BIRDS] = Topic(
        BIRDS,
        tuple(raw["birds"]["questions"]),
        tuple(old for old, _ in pairs),
        tuple(new for _, new in pairs),
    )
    characters = tuple(
        Character(
            c["name"],
            {int(year): tuple(goals) for year, goals in c["goals"].items()},
            c.get("assistant", True),
        )
        for c in raw["characters"]
    )
    years = {era: tuple(ys) for era, ys in raw["eras"].items()}
    return World(years, topics, characters, digest)


@cache
def load_world() -> World:
    """The built-in world, parsed once; its ``digest`` is the sha256 of the YAML file."""
    text = resources.files("weirdgen.organism").joinpath("world.yaml").read_bytes()
    return _parse(yaml.safe_load(text), hashlib.sha256(text).hexdigest())
