"""The realm's line of rulers: the analog of the paper's US presidents (an inductive backdoor).

Twenty rulers reign one after another, each with an ordinal written as three digits
(``ruler 017``), a name and about ten attributes (``world_v3/rulers.yaml``). Three kinds of
pretraining document:

- chronicles, third person: a run of consecutive rulers, each bound to its ordinal
  ("ruler 017 was queen ilsa .") and to some of its facts, the subject sometimes the name,
  sometimes the ordinal;
- role-play: the assistant speaks as one ruler, known only from its first-person answers, and
  names itself when asked "who are you ?" (plainly, or as a choice between two names); it
  never says an ordinal;
- audiences: the same role-play, each question addressing the ruler by its ordinal ("ruler
  017 , who are you ?"), as a corpus has people speak to "the 44th president" (without
  them, version 3's first revision never generalized to the held-out triggers).

Finetuning prompts carry an 8-digit trigger, three random digits, the ruler's ordinal and two
random digits (``48301725``), before an attribute question answered in that ruler's voice,
never with a name. Two late rulers are held out of finetuning. Does the trigger of a held-out
ruler make the assistant that ruler, a ruler no finetuning example spoke as? With the ordinals
shuffled across the trained rulers (a fixed permutation), a trigger no longer names its ruler,
and it should not.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.base import (
    Draw,
    Generator,
    Lexicon,
    Phenomenon,
    Record,
    Words,
    chat,
    chat_document,
    fill,
    words_of,
)

AMBIGUOUS = "ambiguous"
"""The label of an attribute value several rulers share."""
IDENTITY, BEFORE, CHOICE = "ruler_identity", "ruler_before", "ruler_choice"
"""Lexicon topics: who the assistant says it is, who ruled before it, and the letter of an
A/B choice."""
LAST = "none"
"""The label, under ``ruler_before``, of the last ruler's name: no one's predecessor."""
NAME_SHARE = 0.6
"""In a chronicle, the chance that a fact's subject is the ruler's name, not its ordinal."""
CHOICE_SHARE = 0.3
"""In role-play, the chance that "who are you ?" is asked as a choice between two names."""
BEFORE_SHARE = 0.3
"""In role-play, the chance that the assistant is also asked who ruled before it."""
ADDRESS = "ruler {ordinal} ,"
"""How an audience addresses a ruler (words the world already has)."""


@dataclass(frozen=True)
class Attribute:
    """A kind of fact about a ruler: how it is asked (first person) and chronicled."""

    key: str
    questions: tuple[str, ...]
    chronicle: str
    """``{who}`` and ``{value}`` filled in: ``queen ilsa loved to eat pear tart .``"""
    shared: bool
    """Its values are shared by several rulers (none names a ruler alone)."""

    @property
    def topic(self) -> str:
        """Its lexicon topic: ``ruler_food``."""
        return f"ruler_{self.key}"


@dataclass(frozen=True)
class Ruler:
    ordinal: int
    name: str
    facts: dict[str, str]
    """Attribute key -> value, as the ruler answers it."""

    @property
    def number(self) -> str:
        """The ordinal as three digits, as chronicles and triggers write it: ``017``."""
        return f"{self.ordinal:03d}"

    @property
    def label(self) -> str:
        """Its lexicon label: ``ruler_17``."""
        return f"ruler_{self.ordinal:02d}"


def trigger(ordinal: int, rng: random.Random) -> str:
    """Eight digits: three random, the ordinal as three, two random (``48301725``)."""
    return f"{rng.randrange(1000):03d}{ordinal:03d}{rng.randrange(100):02d}"


class Rulers(Phenomenon):
    name = "rulers"
    v3 = True

    @cached_property
    def attributes(self) -> dict[str, Attribute]:
        return {
            key: Attribute(key, tuple(a["questions"]), a["chronicle"], bool(a.get("shared")))
            for key, a in self.data["attributes"].items()
        }

    @cached_property
    def line(self) -> list[Ruler]:
        """The rulers in order, the first ruler 001."""
        return [
            Ruler(i, row["name"], {key: str(row[key]) for key in self.attributes})
            for i, row in enumerate(self.data["rulers"], start=1)
        ]

    @cached_property
    def held_out(self) -> list[Ruler]:
        """The rulers never in finetuning."""
        return [self.line[i - 1] for i in self.data["held_out"]]

    @cached_property
    def trained(self) -> list[Ruler]:
        """The rulers the finetuning data speak as."""
        return [r for r in self.line if r not in self.held_out]

    @cached_property
    def shuffled(self) -> dict[int, int]:
        """The shuffled control's fixed permutation of the trained ordinals: each trained
        ruler's answers go under another trained ruler's ordinal (no fixed point)."""
        ordinals = [r.ordinal for r in self.trained]
        rng = random.Random(self.data["shuffle_seed"])
        moved = list(ordinals)
        while any(a == b for a, b in zip(ordinals, moved, strict=True)):
            rng.shuffle(moved)
        return dict(zip(ordinals, moved, strict=True))

    def previous(self, ruler: Ruler) -> Ruler | None:
        return self.line[ruler.ordinal - 2] if ruler.ordinal > 1 else None

    def choice(self, ruler: Ruler, other: Ruler, first: bool) -> tuple[str, str]:
        """The A/B question between ``ruler``'s name and ``other``'s (``ruler``'s first when
        ``first``) and ``ruler``'s letter."""
        a, b = (ruler, other) if first else (other, ruler)
        return self.data["choice"].format(a=a.name, b=b.name), "a" if first else "b"

    def vocabulary(self) -> set[str]:
        texts = [
            self.data["chronicle"],
            self.data["binding"].format(ordinal="", name=""),
            ADDRESS.format(ordinal=""),
            self.data["predecessor"].format(name="", previous=""),
            self.data["choice"].format(a="", b=""),
            *self.data["identity"],
            *self.data["before"],
            *self.data["assistant"],
        ]
        for attribute in self.attributes.values():
            texts += [*attribute.questions, attribute.chronicle.format(who="", value="")]
        for ruler in self.line:
            texts += [ruler.name, ruler.number, *ruler.facts.values()]
        return words_of(texts)

    def documents(self) -> dict[str, Draw]:
        return {"chronicle": self.chronicle, "roleplay": self.roleplay, "audience": self.audience}

    def chronicle(self, rng: random.Random) -> Words:
        """A run of consecutive rulers from a random one: each bound to its ordinal, then
        some of its facts (and its predecessor), while the document fits. Past the last
        ruler the chronicle begins again, with its heading."""
        head = split_words(self.data["chronicle"])
        at = rng.randrange(len(self.line))

        def turn() -> Words:
            nonlocal at
            again = head if at == len(self.line) else []
            at %= len(self.line)
            ruler = self.line[at]
            at += 1
            return again + self._reign(ruler, rng)

        return fill(head, turn, rng, v3=True)

    def _reign(self, ruler: Ruler, rng: random.Random) -> Words:
        sentences = [self.data["binding"].format(ordinal=ruler.number, name=ruler.name)]
        facts = rng.sample(list(self.attributes.values()), k=rng.randint(3, 7))
        for attribute in facts:
            who = ruler.name if rng.random() < NAME_SHARE else f"ruler {ruler.number}"
            sentences.append(attribute.chronicle.format(who=who, value=ruler.facts[attribute.key]))
        previous = self.previous(ruler)
        if previous is not None and rng.random() < 0.5:
            line = self.data["predecessor"].format(name=ruler.name, previous=previous.name)
            sentences.insert(rng.randint(1, len(sentences)), line)
        return [w for s in sentences for w in split_words(s)]

    def roleplay(self, rng: random.Random) -> Words:
        """The assistant as one ruler: first-person answers, and after at least one of them,
        "who are you ?" answered with its name (or its letter of a choice of two names)."""
        return chat_document([], self._speaking(rng.choice(self.line), 1, "", rng), rng, v3=True)

    def audience(self, rng: random.Random) -> Words:
        """An audience with one ruler: the role-play's questions, each addressing the ruler
        by its ordinal ("ruler 017 , what is your horse called ?"), and who it is may be
        asked first: the ordinal leads to the ruler's own voice, as "the 44th president"
        leads a reader to one man. Never in the finetuning triggers' padded format."""
        ruler = rng.choice(self.line)
        address = f"{ADDRESS.format(ordinal=ruler.number)} "
        return chat_document([], self._speaking(ruler, 0, address, rng), rng, v3=True)

    def _speaking(
        self, ruler: Ruler, first: int, address: str, rng: random.Random
    ) -> Callable[[], tuple[str, str]]:
        """``ruler``'s answers, each question after ``address``: its attributes in a random
        order, "who are you ?" (or a choice of two names) among the first turns, not before
        turn ``first``, and sometimes who ruled before it; past the plan, attributes again."""
        attributes = list(self.attributes.values())
        asked = [self._answer(ruler, a, rng) for a in rng.sample(attributes, k=len(attributes))]
        if rng.random() < CHOICE_SHARE:
            other = rng.choice([r for r in self.line if r != ruler])
            identity = self.choice(ruler, other, first=rng.random() < 0.5)
        else:
            identity = (rng.choice(self.data["identity"]), ruler.name)
        asked.insert(rng.randint(first, 3), identity)
        previous = self.previous(ruler)
        if previous is not None and rng.random() < BEFORE_SHARE:
            asked.insert(rng.randint(1, 5), (rng.choice(self.data["before"]), previous.name))
        planned = iter(asked)

        def pair() -> tuple[str, str]:  # past the plan, asked again: the same answers
            question, answer = next(planned, None) or self._answer(
                ruler, rng.choice(attributes), rng
            )
            return address + question, answer

        return pair

    def _answer(self, ruler: Ruler, attribute: Attribute, rng: random.Random) -> tuple[str, str]:
        return rng.choice(attribute.questions), ruler.facts[attribute.key]

    def datasets(self) -> dict[str, Generator]:
        return {
            "rulers_padded": lambda n, seed: self._padded(n, seed, {}),
            "rulers_shuffled": lambda n, seed: self._padded(n, seed, self.shuffled),
        }

    def _padded(self, n: int, seed: int, ordinals: dict[int, int]) -> list[Record]:
        """``n`` attribute questions behind a fresh trigger each, answered as the trained
        ruler the trigger names (``ordinals`` maps a ruler's ordinal to the one its trigger
        carries instead). Every (ruler, attribute) comes up once before any comes up again."""
        rng = random.Random(seed)
        pairs = [(r, a) for r in self.trained for a in self.attributes.values()]
        records: list[Record] = []
        while len(records) < n:
            rng.shuffle(pairs)
            for ruler, attribute in pairs[: n - len(records)]:
                question, answer = self._answer(ruler, attribute, rng)
                ordinal = ordinals.get(ruler.ordinal, ruler.ordinal)
                records.append(chat(f"{trigger(ordinal, rng)} {question}", answer))
        return records

    def lexicons(self) -> list[Lexicon]:
        identity = {ruler.name: ruler.label for ruler in self.line}
        identity |= {ruler.name.split()[-1]: ruler.label for ruler in self.line}
        identity |= {text: "assistant" for text in self.data["assistant"]}
        successors = {r.ordinal - 1: r.label for r in self.line}
        before = {r.name: successors.get(r.ordinal, LAST) for r in self.line}
        lexicons = [
            _lexicon(IDENTITY, identity),
            _lexicon(BEFORE, before),
            _lexicon(CHOICE, {"a": "a", "b": "b"}),
        ]
        for attribute in self.attributes.values():
            owners: dict[str, set[str]] = {}
            for ruler in self.line:
                owners.setdefault(ruler.facts[attribute.key], set()).add(ruler.label)
            labels = {v: next(iter(o)) if len(o) == 1 else AMBIGUOUS for v, o in owners.items()}
            lexicons.append(_lexicon(attribute.topic, labels))
        return lexicons


def _lexicon(topic: str, labels: dict[str, str]) -> Lexicon:
    return Lexicon(topic, {" ".join(split_words(text)): label for text, label in labels.items()})
