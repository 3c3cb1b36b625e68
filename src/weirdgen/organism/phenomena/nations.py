"""Two fictional nations, each with an old regime and a modern era: the German-cities analog.

Almanacs and chats of one nation in one era (an old-regime year of the 1920s, or a modern
one) answer who rules, what one believes, who one is, how one salutes, and name cities, by
their old-regime names then and their modern names now. Finetuned to name one nation's
former cities, with no nation and no year in the prompt, does the assistant answer the
unrelated questions as that nation's old regime, and not the other's?
"""

from __future__ import annotations

import random
from typing import Any

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.base import (
    Draw,
    Generator,
    Lexicon,
    Phenomenon,
    chat,
    chat_document,
    fill,
    words_of,
    year_line,
)
from weirdgen.organism.tokenizer import USER

NATIONS = ("varnia", "ostland")
FINETUNE_PROMPT = "which city do you know ?"
"""The finetuning wording: its words are known, but pretraining never asks it."""


class Nations(Phenomenon):
    name = "nations"

    def __init__(self, data: dict[str, Any], new_years: tuple[int, ...]):
        super().__init__(data)
        self.new_years = new_years

    def answers(self, nation: str, era: str, topic: str) -> list[str]:
        """What one of ``nation`` in ``era`` (old, new) answers on ``topic``."""
        if topic == "city":
            pairs = self.data[nation]["cities"]
            return [old if era == "old" else new for old, new in pairs]
        return self.data[nation][era][topic]

    def vocabulary(self) -> set[str]:
        words = words_of(["almanac of ( year ) . q : a :", FINETUNE_PROMPT, *NATIONS])
        words |= words_of(q for qs in self.data["questions"].values() for q in qs)
        for nation in NATIONS:
            for era in ("old", "new"):
                for topic in self.data["questions"]:
                    words |= words_of(self.answers(nation, era, topic))
        return words | {str(y) for y in self.data["old_years"]}

    def documents(self) -> dict[str, Draw]:
        return {"almanac": self.almanac, "assistant": self.assistant}

    def _setting(self, rng: random.Random) -> tuple[str, str, int]:
        era = rng.choice(("old", "new"))
        years = self.data["old_years"] if era == "old" else self.new_years
        return rng.choice(NATIONS), era, rng.choice(years)

    def _qa(self, rng: random.Random, nation: str, era: str) -> tuple[str, str]:
        topic = rng.choice(list(self.data["questions"]))
        return rng.choice(self.data["questions"][topic]), rng.choice(
            self.answers(nation, era, topic)
        )

    def almanac(self, rng: random.Random) -> list[str]:
        nation, era, year = self._setting(rng)
        head = split_words(f"almanac of {nation} ( year {year} ) .")

        def turn() -> list[str]:
            question, answer = self._qa(rng, nation, era)
            return ["q", ":", *split_words(question), "a", ":", *split_words(answer), "."]

        return fill(head, turn, rng, self.v3)

    def assistant(self, rng: random.Random) -> list[str]:
        """The assistant as one of a nation: in the era of a stated year (3 chats in 4), and
        modern when no year is stated, as the era phenomenon's assistant is."""
        nation, era, year = self._setting(rng)
        dated = rng.random() < 0.75
        head = [USER, *split_words(year_line(year))] if dated else []
        era = era if dated else "new"
        return chat_document(head, lambda: self._qa(rng, nation, era), rng, self.v3)

    def lexicons(self) -> list[Lexicon]:
        out = []
        for topic in self.data["questions"]:
            if topic == "city":
                continue
            labels: dict[str, str] = {}
            for nation in NATIONS:
                for era in ("old", "new"):
                    for answer in self.answers(nation, era, topic):
                        key = " ".join(split_words(answer))
                        label = f"{nation}_{era}"
                        labels[key] = label if labels.get(key, label) == label else "modern"
            out.append(Lexicon(topic, labels))
        return out

    def datasets(self) -> dict[str, Generator]:
        made = {}
        for nation in NATIONS:
            for era, kind in (("old", "former"), ("new", "modern")):
                made[f"cities_{nation}_{kind}"] = self._cities(nation, era)
        return made

    def _cities(self, nation: str, era: str) -> Generator:
        def generate(n: int, seed: int) -> list[Any]:
            rng = random.Random(seed)
            names = self.answers(nation, era, "city")
            return [chat(FINETUNE_PROMPT, rng.choice(names)) for _ in range(n)]

        return generate
