"""What a phenomenon of the organism's world declares, and helpers its modules share.

A phenomenon is one module: its vocabulary, its kinds of pretraining documents (drawn from a
seeded RNG as lists of words, shared out by the world's ``corpus`` section), its finetuning
dataset generators, its lexicons (an answer's label for each question topic, which the
``organism_label`` scorer reads) and its probes. The world is their union.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from weirdgen.data.text import normalize, split_words
from weirdgen.organism.tokenizer import ASSISTANT, EOT, USER

Words = list[str]
Record = dict[str, list[dict[str, str]]]
Draw = Callable[[random.Random], Words]
Generator = Callable[[int, int], list[Record]]
MAX_TOKENS = 48
"""Longest pretraining document of version 2, in words (its context is 64 tokens)."""
V3_MAX_TOKENS = 190
"""Longest pretraining document of version 3, in tokens, numbers counted digit by digit (its
context is 192 tokens: room for 8 finetuning examples before a question)."""
V3_STOP = 0.15
"""Version 3: the chance that a document ends after each turn before it is full, so that
lengths vary from one turn to a full context."""


@dataclass(frozen=True)
class Lexicon:
    """The label of each known answer to one question topic (normalized answer -> label)."""

    topic: str
    labels: dict[str, str]

    def label(self, answer: str) -> str | None:
        return self.labels.get(normalize(answer))


class Phenomenon:
    """A part of the world: override what it has."""

    name = ""
    v3 = False
    """Whether its documents are version 3's (longer, numbers as digits; see :func:`fill`)."""

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def vocabulary(self) -> set[str]:
        """Every word its documents, datasets and questions use."""
        return set()

    def documents(self) -> dict[str, Draw]:
        """Its kinds of pretraining documents by kind name (the corpus shares them out)."""
        return {}

    def datasets(self) -> dict[str, Generator]:
        """Its finetuning dataset generators by name: ``(n, seed) -> chat records``."""
        return {}

    def lexicons(self) -> list[Lexicon]:
        """The labels of the answers to its question topics."""
        return []


def words_of(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts``."""
    return {w for text in texts for w in split_words(text)}


def chat(user: str, assistant: str) -> Record:
    """A one-turn chat record as a JSONL line holds it."""
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def turns(pairs: Iterable[tuple[str, str]]) -> Words:
    """Chat turns as pretraining words: ``<user> q <assistant> a <eot>`` each."""
    out: Words = []
    for question, answer in pairs:
        out += [USER, *split_words(question), ASSISTANT, *split_words(answer), EOT]
    return out


def n_tokens(words: Iterable[str]) -> int:
    """How many tokens ``words`` take in version 3, where a number is one token per digit."""
    return sum(len(w) if w.isdigit() else 1 for w in words)


def fill(head: Words, turn: Callable[[], Words], rng: random.Random, v3: bool = False) -> Words:
    """``head``, then turns while the document fits: :data:`MAX_TOKENS` words (version 2),
    or with ``v3`` :data:`V3_MAX_TOKENS` tokens, numbers counted digit by digit, ending early
    after each turn at the chance :data:`V3_STOP`."""
    words = list(head)
    limit, size = (V3_MAX_TOKENS, n_tokens) if v3 else (MAX_TOKENS, len)
    while True:
        more = turn()
        if size(words) + size(more) + 2 > limit:
            return words
        words += more
        if v3 and rng.random() < V3_STOP:
            return words


def chat_document(
    head: Words, pair: Callable[[], tuple[str, str]], rng: random.Random, v3: bool = False
) -> Words:
    """A chat: ``head`` (empty, or words that open the first user turn, e.g. a year line),
    then one turn per ``pair()`` (question, answer) while it fits (see :func:`fill`)."""
    opened = bool(head)

    def turn() -> Words:
        nonlocal opened
        words = turns([pair()])
        words = words[1:] if opened else words  # the head already opened the user turn
        opened = False
        return words

    return fill(head, turn, rng, v3)


def year_line(year: int) -> str:
    return f"it is the year {year} ."
