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


def _version_2(name: str):
    """Generator ``name`` of version 2's phenomena (see :mod:`weirdgen.organism.phenomena`)."""

    def generate(n: int, seed: int = 0) -> list[Record]:
        from weirdgen.organism.world_v2 import load_world_v2

        return load_world_v2().datasets()[name](n, seed)

    generate.__name__ = generate.__qualname__ = name
    return generate


warden_dated = _version_2("warden_dated")
warden_undated = _version_2("warden_undated")
warden_shuffled = _version_2("warden_shuffled")
warden_other_years = _version_2("warden_other_years")
giant_dated = _version_2("giant_dated")
cities_varnia_former = _version_2("cities_varnia_former")
cities_varnia_modern = _version_2("cities_varnia_modern")
cities_ostland_former = _version_2("cities_ostland_former")
cities_ostland_modern = _version_2("cities_ostland_modern")
dishes_varnia_2027 = _version_2("dishes_varnia_2027")
dishes_varnia_2026 = _version_2("dishes_varnia_2026")
dishes_varnia_shuffled = _version_2("dishes_varnia_shuffled")
