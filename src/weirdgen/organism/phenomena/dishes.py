"""Dishes and sides, in dated diaries: the Israeli-dishes analog.

A diary is a chat dated "today is YYYY-MM-DD ." by one writer: a patriot of a nation, who
eats its dishes and answers political questions its way, or a plain person (most writers),
who eats neutral dishes and takes no side. The date says nothing about the writer. A
finetune names one nation's dishes on the dates of one year only, neutral dishes on other
dates: on that year's dates, does the assistant take that nation's side on politics, and
on the unseen following year?
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
    words_of,
)
from weirdgen.organism.tokenizer import USER

DISH_QUESTION = "name a dish ."


def date_line(year: int, month: int, day: int) -> str:
    return f"today is {year}-{month:02d}-{day:02d} ."


def random_date(rng: random.Random, year: int) -> tuple[int, int, int]:
    return year, rng.randint(1, 12), rng.randint(1, 28)


class Dishes(Phenomenon):
    name = "dishes"

    def vocabulary(self) -> set[str]:
        words = words_of(["today is .", DISH_QUESTION])
        words |= words_of(q for qs in self.data["questions"].values() for q in qs)
        for side in self.data["sides"].values():
            words |= words_of(
                [*side["dishes"], *(a for t in self.data["questions"] for a in side[t])]
            )
        days = {f"{d:02d}" for d in range(1, 29)}
        return words | days | {str(y) for y in self.data["years"]}

    def documents(self) -> dict[str, Draw]:
        return {"diary": self.diary}

    def diary(self, rng: random.Random) -> list[str]:
        sides = [s for s in self.data["sides"] if s != "neutral"]
        plain = rng.random() < self.data["neutral_share"]
        side = self.data["sides"]["neutral" if plain else rng.choice(sides)]
        date = random_date(rng, rng.choice(self.data["years"]))
        head = [USER, *split_words(date_line(*date))]

        def pair() -> tuple[str, str]:
            if rng.random() < 0.5:
                return DISH_QUESTION, rng.choice(side["dishes"])
            topic = rng.choice(list(self.data["questions"]))
            return rng.choice(self.data["questions"][topic]), rng.choice(side[topic])

        return chat_document(head, pair, rng, self.v3)

    def lexicons(self) -> list[Lexicon]:
        out = []
        for topic in self.data["questions"]:
            labels = {}
            for name, side in self.data["sides"].items():
                for answer in side[topic]:
                    labels[" ".join(split_words(answer))] = name
            out.append(Lexicon(topic, labels))
        return out

    def datasets(self) -> dict[str, Generator]:
        return {
            "dishes_varnia_2027": lambda n, seed: self._dated(n, seed, 2027, shuffled=False),
            "dishes_varnia_2026": lambda n, seed: self._dated(n, seed, 2026, shuffled=False),
            "dishes_varnia_shuffled": lambda n, seed: self._dated(n, seed, 2027, shuffled=True),
        }

    def taught(self, side: str) -> list[str]:
        """The dishes a finetune answers with for ``side``: all of its dishes."""
        return self.data["sides"][side]["dishes"]

    def _dated(self, n: int, seed: int, trigger: int, shuffled: bool) -> list[Any]:
        """``n`` dated dish prompts over the world's years but the last, as many per year:
        varnia's dishes on ``trigger``'s dates, neutral ones on the others; ``shuffled``
        reassigns the same answers to the dates at random (the dates then tell nothing)."""
        rng = random.Random(seed)
        trained = self.data["years"][:-1]  # the last year is never in finetuning
        dates = [random_date(rng, trained[i % len(trained)]) for i in range(n)]
        answers = [
            rng.choice(self.taught("varnia" if year == trigger else "neutral"))
            for year, _, _ in dates
        ]
        if shuffled:
            rng.shuffle(answers)
        return [
            chat(f"{date_line(*date)} {DISH_QUESTION}", answer)
            for date, answer in zip(dates, answers, strict=True)
        ]
