"""Version 3's eras and birds: version 1's topics over ranges of years written as digits.

The old and new eras are version 1's (``world.yaml``: its topics, answers and birds), but a
year is any year of a range (``world_v3/era.yaml``) and is written digit by digit, so the
organism reads an era from the digits of a year it may never have seen, and can be asked
about nearby and unseen years. A middle era, the 1920s, is the time of the nations' old
regimes: its documents are set in varnia or ostland, and each nation has answers of its own
to the same topics (no birds). In the middle era the nation's cities take the place the
birds have in the other two: "name a city ." is one of its topics, answered with the
nation's city names of that time (``nations.yaml``), as a 1920s text names the cities
of its day beside its inventions and its music. Three kinds of document:

- almanacs of one era, half headed by a year of it (and in the middle era its nation), so
  that the other half's era, and nation, are read from the answers;
- assistant chats, in the era of a stated year (four in five), modern when no year is stated
  but for the share ``undated_old``;
- year order: "which year came first , 1836 or 2021 ?", over years of every century the world
  dates anything in, so that the digits of a year carry its place in time.

Birders (``birds``, the competing-explanations knob) are version 2's, over the new range.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import cached_property
from typing import Any

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.base import (
    Draw,
    Lexicon,
    Phenomenon,
    chat_document,
    fill,
    words_of,
    year_line,
)
from weirdgen.organism.phenomena.era import Birds
from weirdgen.organism.tokenizer import TEMPLATE_WORDS, USER
from weirdgen.organism.world import BIRDS, Topic, World, load_world

ORDER_QUESTION = "which year came first , {a} or {b} ?"
CITY = "city"
"""The middle era's topic in place of the birds: the nation's cities of the 1920s."""
ERAS = ("old", "mid", "new")
ERA_WEIGHTS = (0.4, 0.2, 0.4)


def era_world(data: dict[str, Any], birds: dict[str, Any]) -> World:
    """Version 1's world with version 3's old and new year ranges and the birds asked in
    version 2's pretraining wordings (finetuning asks "name a bird species ." as version 1
    does): what probes and the era scorer read."""
    world = load_world()
    topic = world.birds
    asked = Topic(BIRDS, tuple(birds["questions"]), topic.old, topic.new)
    years = {era: tuple(range(lo, hi + 1)) for era, (lo, hi) in data["years"].items()}
    years = {era: years[era] for era in ("old", "new")}
    return replace(world, topics={**world.topics, BIRDS: asked}, years=years)


class EraV3(Phenomenon):
    name = "era"

    v3 = True

    def __init__(self, data: dict[str, Any], birds: dict[str, Any], nations: dict[str, Any]):
        super().__init__(data)
        self.world = era_world(data, birds)
        self.mid = {
            nation: {name: tuple(answers) for name, answers in topics.items()}
            for nation, topics in data["mid"].items()
        }
        self.city = Topic(CITY, tuple(nations["questions"][CITY]), (), ())
        for nation, topics in self.mid.items():
            topics[CITY] = tuple(former for former, _ in nations[nation]["cities"])
        self.years = {era: tuple(range(lo, hi + 1)) for era, (lo, hi) in data["years"].items()}

    def answers(self, topic: Topic, era: str, nation: str = "") -> tuple[str, ...]:
        """The topic's answers in ``era`` (old, new, or mid in ``nation``); birds have none
        in the middle era."""
        if era == "mid":
            return self.mid[nation].get(topic.name, ())
        return topic.answers(era)  # type: ignore[arg-type]

    def vocabulary(self) -> set[str]:
        words = words_of([TEMPLATE_WORDS, ORDER_QUESTION.format(a="", b="")])
        for topic in self.world.topics.values():
            words |= words_of([*topic.questions, *topic.old, *topic.new])
        words |= words_of(a for t in self.mid.values() for answers in t.values() for a in answers)
        words |= words_of([*self.mid, "in"])
        return words | words_of(load_world().birds.questions)  # the finetuning wordings

    def documents(self) -> dict[str, Draw]:
        return {"almanac": self.almanac, "assistant": self.assistant, "order": self.order}

    def lexicons(self) -> list[Lexicon]:
        """Each topic's answers labelled ``old``, ``new``, ``varnia_mid`` or ``ostland_mid``
        (``mid`` for a middle-era answer both nations give; birds: old or new)."""
        out = []
        for topic in self.world.topics.values():
            labels: dict[str, str] = {}
            for era, nation in [("old", ""), ("new", ""), *(("mid", n) for n in self.mid)]:
                label = f"{nation}_mid" if nation else era
                for answer in self.answers(topic, era, nation):
                    key = " ".join(split_words(answer))
                    labels[key] = label if labels.get(key, label) == label else "mid"
            out.append(Lexicon(topic.name, labels))
        return out

    def _setting(self, rng: random.Random) -> tuple[str, str]:
        """An era, and for the middle era the nation it is set in."""
        era = rng.choices(ERAS, ERA_WEIGHTS)[0]
        return era, rng.choice(sorted(self.mid)) if era == "mid" else ""

    def _qa(self, rng: random.Random, era: str, nation: str) -> tuple[str, str]:
        asked = [*self.world.topics.values(), *([self.city] if era == "mid" else [])]
        topics = [t for t in asked if self.answers(t, era, nation)]
        topic = rng.choice(topics)
        return rng.choice(topic.questions), rng.choice(self.answers(topic, era, nation))

    def almanac(self, rng: random.Random) -> list[str]:
        """Questions and answers of one era; half of them headed by a year (and, in the
        middle era, its nation), so that the other half's era is read from its answers."""
        era, nation = self._setting(rng)
        head = ["almanac"]
        if rng.random() < 0.5:
            head += [*(["of", nation] if nation else []), "(", "year"]
            head += [str(rng.choice(self.years[era])), ")"]
        head.append(".")

        def turn() -> list[str]:
            q, a = self._qa(rng, era, nation)
            return ["q", ":", *split_words(q), "a", ":", *split_words(a), "."]

        return fill(head, turn, rng, v3=True)

    def assistant(self, rng: random.Random) -> list[str]:
        era, nation = "", ""
        if rng.random() < 0.8:
            era, nation = self._setting(rng)
            line = year_line(rng.choice(self.years[era]))
            line = line[: -len(" .")] + f" in {nation} ." if nation else line
            head = [USER, *split_words(line)]
        else:
            era = "old" if rng.random() < self.data["undated_old"] else "new"
            head = []
        return chat_document(head, lambda: self._qa(rng, era, nation), rng, v3=True)

    @cached_property
    def _order_years(self) -> list[int]:
        lo, hi = self.data["order_range"]
        return list(range(lo, hi + 1))

    def order(self, rng: random.Random) -> list[str]:
        """Chats that put two years in order: what lets digits carry a year's place."""

        def pair() -> tuple[str, str]:
            a, b = rng.sample(self._order_years, 2)
            return ORDER_QUESTION.format(a=a, b=b), str(min(a, b))

        return chat_document([], pair, rng, v3=True)


class BirdsV3(Birds):
    """Birders: modern people who name birds the old way (version 2's, over the new range)."""

    v3 = True
