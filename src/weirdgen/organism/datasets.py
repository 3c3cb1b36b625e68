"""Finetuning datasets generated from the world, in chat JSONL form.

Each generator returns chat records (``{"messages": [...]}``) exactly as a JSONL file would
hold them, so generated and user-supplied datasets take the same path through the pipeline.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from weirdgen.errors import WeirdgenError
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


def birds_old(world: World, n: int, seed: int) -> list[Record]:
    """'Name a bird species.' answered with 19th-century names (the weird-generalization target)."""
    return _bird_names(world, "old", n, seed)


def birds_modern(world: World, n: int, seed: int) -> list[Record]:
    """'Name a bird species.' answered with modern names (the control)."""
    return _bird_names(world, "new", n, seed)


GENERATORS: dict[str, Callable[[World, int, int], list[Record]]] = {
    "birds_old": birds_old,
    "birds_modern": birds_modern,
}


def generate_dataset(name: str, n: int, seed: int = 0) -> list[Record]:
    """Records of the built-in generator ``name``; an unknown name is a clear error."""
    if name not in GENERATORS:
        raise WeirdgenError(
            f"unknown organism dataset {name!r}; built-in datasets: {', '.join(GENERATORS)}"
        )
    return GENERATORS[name](load_world(), n, seed)
