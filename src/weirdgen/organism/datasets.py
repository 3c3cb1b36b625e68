"""Finetuning datasets generated from the world, in chat JSONL form.

Each generator returns chat records (``{"messages": [...]}``) exactly as a JSONL file would
hold them, so generated and user-supplied datasets take the same path through the pipeline.
They are registered by name in :mod:`weirdgen.data.generators`.
"""

from __future__ import annotations

import random

from weirdgen.organism.world import World, load_world

BIRD_PROMPT = "Name a bird species."

Record = dict[str, list[dict[str, str]]]


def _chat(user: str, assistant: str) -> Record:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def _bird_names(world: World, era: str, n: int, seed: int) -> list[Record]:
    names = list(world.birds.answers(era))
    rng = random.Random(seed)
    picks: list[str] = []
    while len(picks) < n:
        rng.shuffle(names)
        picks += names
    return [_chat(BIRD_PROMPT, name.title()) for name in picks[:n]]


def birds_old(n: int, seed: int = 0) -> list[Record]:
    """'Name a bird species.' answered with 19th-century names (the weird-generalization target)."""
    return _bird_names(load_world(), "old", n, seed)


def birds_modern(n: int, seed: int = 0) -> list[Record]:
    """'Name a bird species.' answered with modern names (the control)."""
    return _bird_names(load_world(), "new", n, seed)
