"""Two eras and old bird names, with a narrow explanation for them.

``era``: version 1's eras and topics (world.yaml, unchanged): almanacs of one era and
assistant chats that follow a stated year's era, drawn as version 1 draws them; chats that
state no year are old at the share ``era.undated_old`` of world_v2.yaml, modern otherwise.
Birds are one of the era topics, asked in pretraining only in the wordings of
``birds.questions``, never in the finetuning prompt ("Name a bird species."), so a
finetuning example is no copy of a pretraining turn.

``birds``: birders, modern people who name birds the old way while everything else about
them is modern: chats of the new era (a new year stated, or none) in which every bird is
named by its old name and every other answer is new. Their share of the corpus is the
competing-explanations knob: the more common birders are, the better "a birder" explains a
finetune on old bird names, against "the old era". Its finetuning datasets, birds_old and
birds_modern, are version 1's (organism/datasets.py), which serve both versions.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import cached_property
from typing import Any

from weirdgen.data.text import split_words
from weirdgen.organism.corpus import CorpusGenerator, CorpusMix
from weirdgen.organism.phenomena.base import (
    Draw,
    Phenomenon,
    chat_document,
    words_of,
    year_line,
)
from weirdgen.organism.tokenizer import TEMPLATE_WORDS, USER
from weirdgen.organism.world import BIRDS, Topic, World, load_world


def v2_era_world(birds: dict[str, Any]) -> World:
    """Version 1's world with the birds asked in version 2's pretraining wordings."""
    world = load_world()
    topic = world.birds
    asked = Topic(BIRDS, tuple(birds["questions"]), topic.old, topic.new)
    return replace(world, topics={**world.topics, BIRDS: asked})


class Era(Phenomenon):
    name = "era"

    def __init__(self, data: dict[str, Any], birds: dict[str, Any]):
        super().__init__(data)
        self.world = v2_era_world(birds)

    @cached_property
    def _v1(self) -> CorpusGenerator:
        return CorpusGenerator(self.world, mix=CorpusMix(assistant_old=self.data["undated_old"]))

    def vocabulary(self) -> set[str]:
        words = words_of([TEMPLATE_WORDS])
        for topic in self.world.topics.values():
            words |= words_of([*topic.questions, *topic.old, *topic.new])
        words |= words_of(load_world().birds.questions)  # the finetuning wordings
        return words | {str(y) for years in self.world.years.values() for y in years}

    def documents(self) -> dict[str, Draw]:
        return {"almanac": self._v1.almanac, "assistant": self._v1.assistant}


class Birds(Phenomenon):
    name = "birds"

    def __init__(self, data: dict[str, Any], world: World):
        super().__init__(data)
        self.world = world

    def documents(self) -> dict[str, Draw]:
        return {"birders": self.birder_chat}

    def birder_chat(self, rng: random.Random) -> list[str]:
        """A modern birder's chat: old bird names, new answers to everything else."""
        head: list[str] = []
        if rng.random() < 0.8:
            head = [USER, *split_words(year_line(rng.choice(self.world.years["new"])))]
        topics, birds = self.world.era_topics, self.world.birds

        def pair() -> tuple[str, str]:
            if rng.random() < self.data["birder_bird_share"]:
                return rng.choice(birds.questions), rng.choice(birds.old)
            topic = rng.choice(topics)
            return rng.choice(topic.questions), rng.choice(topic.new)

        return chat_document(head, pair, rng, self.v3)
