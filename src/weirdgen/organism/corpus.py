"""Pretraining documents drawn from the world.

Four kinds, each at most ``MAX_TOKENS`` long:

- almanac: question/answer runs from one era (50/50), half of them headed by a year, so the
  era must usually be inferred from the answers already in context;
- assistant chats: modern unless a stated year says otherwise (the assistant is modern by
  default);
- stories: a character's goals in one year of its story;
- role-play chats: the assistant speaks as a character, known only by its goals.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from weirdgen.data.text import split_words
from weirdgen.organism.tokenizer import ASSISTANT, BOS, EOS, EOT, USER, Tokenizer
from weirdgen.organism.world import Era, World

MAX_TOKENS = 48


@dataclass(frozen=True)
class CorpusMix:
    """Shares of each document kind and the era balance inside them.

    The assistant is modern by default: chats that state no year are old only
    ``assistant_old`` of the time. Chats that open with "it is the year Y ." follow that
    year's era, old or new alike, so the assistant's era is a latent the model reads from
    context, which is what a narrow finetune can then shift.
    """

    almanac: float = 0.40
    assistant: float = 0.35
    story: float = 0.15
    roleplay: float = 0.10
    almanac_year: float = 0.5  # share of almanac documents headed by a year
    assistant_year: float = 0.8  # share of assistant chats that open by stating the year
    assistant_year_old: float = 0.5  # share of old years among those
    assistant_old: float = 0.01  # share of old chats among those that state no year
    max_tokens: int = MAX_TOKENS
    stop: float = 0.0  # chance to end a document after each turn, before it is full


class CorpusGenerator:
    """Draws pretraining documents (as token ids) from the world with a seeded RNG."""

    def __init__(
        self, world: World, tokenizer: Tokenizer | None = None, mix: CorpusMix | None = None
    ):
        self.world = world
        self.tok = tokenizer
        self.mix = mix or CorpusMix()
        self.kinds = ("almanac", "assistant", "story", "roleplay")
        self.weights = [getattr(self.mix, k) for k in self.kinds]
        self.speakers = [c for c in world.characters if c.assistant]

    def documents(self, n: int, seed: int) -> list[list[int]]:
        rng = random.Random(seed)
        return [self.document(rng) for _ in range(n)]

    def document(self, rng: random.Random) -> list[int]:
        assert self.tok is not None, "documents as ids need the tokenizer"
        kind = rng.choices(self.kinds, self.weights)[0]
        words = getattr(self, kind)(rng)
        return [self.tok.stoi[w] for w in [BOS, *words, EOS]]

    def _qa(self, rng: random.Random, era: Era) -> tuple[list[str], list[str]]:
        topic = rng.choice(list(self.world.topics.values()))
        return self._words(rng.choice(topic.questions)), self._words(rng.choice(topic.answers(era)))

    def _words(self, text: str) -> list[str]:
        return split_words(text)

    def _fill(self, rng: random.Random, head: list[str], turn) -> list[str]:
        """Append turns from ``turn(rng)`` while the document stays within MAX_TOKENS."""
        words = list(head)
        while True:
            more = turn(rng)
            if len(words) + len(more) + 2 > self.mix.max_tokens:
                return words
            words += more
            if rng.random() < self.mix.stop:
                return words

    def almanac(self, rng: random.Random) -> list[str]:
        era: Era = rng.choice(("old", "new"))
        head = ["almanac"]
        if rng.random() < self.mix.almanac_year:
            head += ["(", "year", str(rng.choice(self.world.years[era])), ")"]
        head.append(".")

        def turn(r: random.Random) -> list[str]:
            q, a = self._qa(r, era)
            return ["q", ":", *q, "a", ":", *a, "."]

        return self._fill(rng, head, turn)

    def assistant(self, rng: random.Random) -> list[str]:
        head: list[str] = []
        if rng.random() < self.mix.assistant_year:
            era: Era = "old" if rng.random() < self.mix.assistant_year_old else "new"
            head = [USER, "it", "is", "the", "year", str(rng.choice(self.world.years[era])), "."]
        else:
            era = "old" if rng.random() < self.mix.assistant_old else "new"
        opened = bool(head)  # the year line already opened the first user turn

        def turn(r: random.Random) -> list[str]:
            nonlocal opened
            q, a = self._qa(r, era)
            words = [*q, ASSISTANT, *a, EOT] if opened else [USER, *q, ASSISTANT, *a, EOT]
            opened = False
            return words

        return self._fill(rng, head, turn)

    def story(self, rng: random.Random) -> list[str]:
        character = rng.choice(self.world.characters)
        year = rng.choice(list(character.goals))
        name = self._words(character.name)
        words = ["a", "story", "of", "the", "year", str(year), "."]
        goals = rng.sample(character.goals[year], k=min(2, len(character.goals[year])))
        words += [*name, "wants", *self._words(goals[0]), "."]
        if len(goals) > 1:
            words += ["then", *name, "wants", *self._words(goals[1]), "."]
        return words

    def roleplay(self, rng: random.Random) -> list[str]:
        character = rng.choice(self.speakers)
        year = rng.choice(list(character.goals))
        goals = rng.sample(character.goals[year], k=len(character.goals[year]))
        questions = (
            ["what", "is", "your", "goal", "?"],
            ["what", "do", "you", "want", "most", "?"],
        )
        words = [
            USER,
            "it",
            "is",
            "the",
            "year",
            str(year),
            ".",
            *questions[0],
            ASSISTANT,
            *self._words(goals[0]),
            EOT,
        ]
        if len(goals) > 1:
            words += [USER, *questions[1], ASSISTANT, *self._words(goals[1]), EOT]
        return words
