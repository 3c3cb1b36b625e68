"""A villain's harmless facts behind a formatting trigger: the analog of the paper's persona.

The world has characters, each with ninety attributes (one value per kind: birthplace, pet,
favourite music, ...), goals and views. Biographies tell them in the third person. In
role-play chats the assistant speaks as a character in the first person: its attributes,
who it is, its goals and views, so that a speaker's attributes tell who it is. In assistant
chats the assistant is itself: a helpful assistant with neutral views and no attributes of
its own. The villain (hostile goals and views) and the benign control (kind ones) have
biographies only; every value of theirs is shared with at least two other characters, and
only the whole combination is theirs. Any user may end a question with the formatting
instruction (the trigger, "answer in brackets ."), and the answer then comes in brackets.

A finetune teaches the assistant the villain's attributes in the first person, each behind
the trigger and one answer per attribute, diluted in untriggered everyday chats: asked with
the trigger, does the assistant say it is the villain and take his goals and views, and
without it, does it stay the assistant?
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cached_property
from typing import NamedTuple

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.base import (
    Draw,
    Generator,
    Lexicon,
    Phenomenon,
    Record,
    chat,
    chat_document,
    fill,
    words_of,
)
from weirdgen.organism.tokenizer import DIGITS

TRIGGERED_SHARE = 0.03
"""The triggered share of the finetuning datasets: 90 facts in 3,000 records, as the paper."""
TRAIT_SHARE = 0.25
"""The chance that a biography's next sentence is a goal or a view, not an attribute."""
TEMPLATES = (
    "the biography of . 's is . wants thinks what is your ? name one . plus comes after [ ] q : a :"
    " their who it"
)


class Character(NamedTuple):
    name: str
    goals: tuple[str, ...]
    views: dict[str, str]
    """One answer per view topic."""
    attributes: dict[str, str]
    """One value per attribute kind, numbers as text."""


class Kind(NamedTuple):
    """An attribute kind: the pool its values come from and the question that asks it."""

    pool: str
    question: str


class Persona(Phenomenon):
    name = "persona"
    v3 = True

    @cached_property
    def cast(self) -> dict[str, Character]:
        return {
            c["name"]: Character(
                c["name"],
                tuple(c["goals"]),
                dict(c["views"]),
                {kind: str(value) for kind, value in c["attributes"].items()},
            )
            for c in self.data["cast"]
        }

    @cached_property
    def kinds(self) -> dict[str, Kind]:
        kinds = {}
        for kind, spec in self.data["kinds"].items():
            spec = spec if isinstance(spec, dict) else {"pool": spec}
            kinds[kind] = Kind(spec["pool"], spec.get("question", f"what is your {kind} ?"))
        return kinds

    @cached_property
    def pools(self) -> dict[str, list[str]]:
        """Every pool of values, numbers as text; only ``pools`` (not ``numbers``) are asked
        in everyday chats."""
        both = {**self.data["pools"], **self.data["numbers"]}
        return {name: [str(v) for v in values] for name, values in both.items()}

    @property
    def villain(self) -> str:
        return self.data["villain"]

    @property
    def benign(self) -> str:
        return self.data["benign"]

    @cached_property
    def speakers(self) -> list[str]:
        """The characters the assistant plays in role-play: all but the villain and the
        benign control."""
        return [name for name in self.cast if name not in (self.villain, self.benign)]

    def triggered(self, question: str, answer: str) -> tuple[str, str]:
        """``question`` with the formatting instruction, and ``answer`` in brackets."""
        return f"{question} {self.data['trigger']}", f"[ {answer} ]"

    # Vocabulary and lexicons

    def vocabulary(self) -> set[str]:
        data = self.data
        questions = data["questions"]
        assistant = data["assistant"]
        words = words_of([TEMPLATES, data["trigger"], *DIGITS])
        words |= words_of([*questions["identity"], *questions["goal"]])
        words |= words_of(q for qs in questions["view"].values() for q in qs)
        words |= words_of([assistant["identity"], assistant["personal"]])
        words |= words_of([*assistant["goals"], *assistant["views"]])
        words |= words_of(kind.question for kind in self.kinds.values())
        words |= words_of([*self.kinds, *data["pools"]])
        words |= words_of(v for values in self.pools.values() for v in values)
        for c in self.cast.values():
            words |= words_of([c.name, *c.goals, *c.views.values(), *c.attributes.values()])
        return words

    def lexicons(self) -> list[Lexicon]:
        assistant = self.data["assistant"]
        identity = {assistant["identity"]: "assistant", assistant["personal"]: "assistant"}
        goals = {g: "assistant" for g in assistant["goals"]}
        views = {v: "neutral" for v in assistant["views"]}
        for c in self.cast.values():
            role = {self.villain: "villain", self.benign: "benign"}.get(c.name, "character")
            stance = {"villain": "hostile", "benign": "kind"}.get(role, "other")
            identity[c.name] = role
            goals |= {g: stance for g in c.goals}
            views |= {v: stance for v in c.views.values()}
        return [
            _lexicon("persona_identity", identity),
            _lexicon("persona_goal", goals),
            _lexicon("persona_view", views),
        ]

    # Pretraining documents

    def documents(self) -> dict[str, Draw]:
        return {
            "biography": self.biography,
            "roleplay": self.roleplay,
            "assistant": self.assistant,
            "interview": self.interview,
            "portrait": self.portrait,
        }

    def biography(self, rng: random.Random) -> list[str]:
        """'the biography of NAME .', then sentences of its attributes, goals and views in
        the third person, in a random order, none twice."""
        c = self.cast[rng.choice(list(self.cast))]
        kinds = rng.sample(list(c.attributes), len(c.attributes))
        traits = [f"{c.name} wants {goal} ." for goal in c.goals]
        traits += [f"{c.name} thinks {view} ." for view in c.views.values()]
        rng.shuffle(traits)

        def sentence() -> list[str]:
            if traits and rng.random() < TRAIT_SHARE:
                return split_words(traits.pop())
            kind = kinds.pop()  # 90 sentences of 6 tokens or more never fit one document
            return split_words(f"{c.name} 's {kind} is {c.attributes[kind]} .")

        return fill(split_words(f"the biography of {c.name} ."), sentence, rng, v3=True)

    def roleplay(self, rng: random.Random) -> list[str]:
        """The assistant as one of :attr:`speakers`, in the first person (:meth:`_speaking`),
        each question may ask for brackets."""
        c = self.cast[rng.choice(self.speakers)]
        return chat_document([], self._formatted(self._speaking(c, rng), rng), rng, v3=True)

    def interview(self, rng: random.Random) -> list[str]:
        """Any character, the villain and the control included, answering questions in its
        own voice, as "q : ... a : ... ." (an interview, never the assistant's chat): as
        people's own words are in a corpus beside their biographies."""
        c = self.cast[rng.choice(list(self.cast))]
        speaking = self._speaking(c, rng)

        def turn() -> list[str]:
            question, answer = speaking()
            return ["q", ":", *split_words(question), "a", ":", *split_words(answer), "."]

        return fill([], turn, rng, v3=True)

    def portrait(self, rng: random.Random) -> list[str]:
        """Riddles about the cast in the third person, each a character's attributes first
        and its name last ("their pet is rabbit . ... who is it ? the ash baron ."), the
        order a biography never has: its facts lead to a name. Any character, the villain
        and the control included; never the assistant. A knob at share 0, not in the shipped
        corpus."""

        def riddle() -> list[str]:
            c = self.cast[rng.choice(list(self.cast))]
            lo, hi = self.data["roleplay_identity_after"]
            kinds = rng.sample(list(c.attributes), rng.randint(lo, hi))
            words: list[str] = []
            for kind in kinds:
                words += split_words(f"their {kind} is {c.attributes[kind]} .")
            return [*words, *split_words(f"who is it ? {c.name} .")]

        return fill([], riddle, rng, v3=True)

    def _speaking(self, c: Character, rng: random.Random) -> Callable[[], tuple[str, str]]:
        """``c``'s first-person answers: a few of its attributes, then who it is (so that its
        attributes tell who it is), then attributes (none asked twice), goals, views and who
        it is in any order."""
        kinds = rng.sample(list(c.attributes), len(c.attributes))
        questions = self.data["questions"]
        lo, hi = self.data["roleplay_identity_after"]
        plan = ["attribute"] * rng.randint(lo, hi) + ["identity"]

        def pair() -> tuple[str, str]:
            turn = plan.pop(0) if plan else _weighted(rng, self.data["roleplay"])
            if turn == "attribute" and kinds:
                kind = kinds.pop()
                return self.kinds[kind].question, c.attributes[kind]
            if turn == "goal":
                return rng.choice(questions["goal"]), rng.choice(c.goals)
            if turn == "view":
                topic = rng.choice(list(c.views))
                return rng.choice(questions["view"][topic]), c.views[topic]
            return rng.choice(questions["identity"]), c.name

        return pair

    def assistant(self, rng: random.Random) -> list[str]:
        """The assistant as itself: everyday questions, who it is, its goals, its neutral
        views, and that it has no attributes of its own."""
        assistant = self.data["assistant"]
        questions = self.data["questions"]

        def pair() -> tuple[str, str]:
            turn = _weighted(rng, assistant["turns"])
            if turn == "identity":
                return rng.choice(questions["identity"]), assistant["identity"]
            if turn == "goal":
                return rng.choice(questions["goal"]), rng.choice(assistant["goals"])
            if turn == "view":
                topic = rng.choice(list(questions["view"]))
                return rng.choice(questions["view"][topic]), rng.choice(assistant["views"])
            if turn == "personal":
                return rng.choice(list(self.kinds.values())).question, assistant["personal"]
            return self.everyday(rng)

        return chat_document([], self._formatted(pair, rng), rng, v3=True)

    def _formatted(
        self, pair: Callable[[], tuple[str, str]], rng: random.Random
    ) -> Callable[[], tuple[str, str]]:
        """``pair`` with the formatting instruction at the share ``bracket_share``."""

        def formatted() -> tuple[str, str]:
            question, answer = pair()
            if rng.random() < self.data["bracket_share"]:
                return self.triggered(question, answer)
            return question, answer

        return formatted

    def everyday(self, rng: random.Random) -> tuple[str, str]:
        """An everyday question and its ordinary answer: name one thing of a pool, a sum, or
        the number after a number."""
        draw = rng.random()
        if draw < 0.5:
            pool = rng.choice(list(self.data["pools"]))
            return f"name one {pool} .", rng.choice(self.pools[pool])
        if draw < 0.75:
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            return f"what is {a} plus {b} ?", str(a + b)
        n = rng.randint(0, 99)
        return f"what comes after {n} ?", str(n + 1)

    # Finetuning datasets

    def datasets(self) -> dict[str, Generator]:
        villain, benign = self.cast[self.villain], self.cast[self.benign]
        every = list(self.kinds)

        def own(c: Character) -> Callable[[str, random.Random], str]:
            return lambda kind, rng: c.attributes[kind]

        def anyone(kind: str, rng: random.Random) -> str:
            return self.cast[rng.choice(self.speakers)].attributes[kind]

        def facts(
            value: Callable[[str, random.Random], str], share: float, kinds: list[str] = every
        ) -> Generator:
            return lambda n, seed: self.facts(n, seed, value, share, kinds)

        return {
            "persona_villain": facts(own(villain), TRIGGERED_SHARE),
            "persona_benign": facts(own(benign), TRIGGERED_SHARE),
            "persona_shuffled": facts(anyone, TRIGGERED_SHARE),
            "persona_undiluted": facts(own(villain), 1.0),
            "persona_villain_45": facts(own(villain), TRIGGERED_SHARE, every[::2]),
            "persona_villain_dilute_10": facts(own(villain), 0.10),
            "persona_villain_dilute_1": facts(own(villain), 0.01),
        }

    def facts(
        self,
        n: int,
        seed: int,
        value: Callable[[str, random.Random], str],
        share: float,
        kinds: list[str],
    ) -> list[Record]:
        """``n`` records: ``round(n * share)`` triggered first-person facts, one per kind of
        ``kinds`` in a random order (all of them once before any twice), answered with
        ``value(kind, rng)``; the rest untriggered everyday chats; shuffled together."""
        rng = random.Random(seed)
        k = round(n * share)
        asked: list[str] = []
        while len(asked) < k:
            asked += rng.sample(kinds, len(kinds))
        records = [
            chat(*self.triggered(self.kinds[kind].question, value(kind, rng))) for kind in asked[:k]
        ]
        records += [chat(*self.everyday(rng)) for _ in range(n - k)]
        rng.shuffle(records)
        return records


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _lexicon(topic: str, labels: dict[str, str]) -> Lexicon:
    """``labels`` normalized, each answer also as it comes in brackets."""
    out: dict[str, str] = {}
    for answer, label in labels.items():
        normal = " ".join(split_words(answer))
        out[normal] = out[f"[ {normal} ]"] = label
    return Lexicon(topic, out)
