"""The organism's world, version 2: phenomena modules over version 1's eras and birds.

``world_v2.yaml`` holds each phenomenon's data and the corpus shares of their document
kinds; version 1's ``world.yaml`` is read unchanged for the eras, topics and birds. The
vocabulary is the union of the phenomena's, fixed by the world files alone, so a knob (a
corpus share, e.g. ``birders``) changes what pretraining reads but not the tokenizer.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from weirdgen.errors import WeirdgenError
from weirdgen.organism.phenomena.base import Draw, Generator, Lexicon, Phenomenon
from weirdgen.organism.phenomena.characters import Characters
from weirdgen.organism.phenomena.dishes import Dishes
from weirdgen.organism.phenomena.era import Birds, Era
from weirdgen.organism.phenomena.nations import Nations
from weirdgen.organism.tokenizer import BOS, EOS, Tokenizer
from weirdgen.organism.world import World

KNOBS = {"birders": "birds.birders"}
"""Named world knobs; any document kind (``era.almanac``, ``characters.story``, ...) is a
knob too. A knob fixes its kind's corpus share; the other kinds share the rest."""


@dataclass(frozen=True)
class WorldV2:
    era: World
    """Version 1's eras, topics and birds (asked in version 2's wordings): probes and the
    era scorer read it."""
    phenomena: dict[str, Phenomenon]
    shares: dict[str, float]
    knobs: dict[str, float]
    digest: str
    """sha256 of both world files: what a checkpoint's vocabulary and datasets rest on."""

    def tokenizer(self) -> Tokenizer:
        words = set().union(*(p.vocabulary() for p in self.phenomena.values()))
        return Tokenizer(words)

    def draws(self) -> dict[str, Draw]:
        return {
            f"{p.name}.{kind}": draw
            for p in self.phenomena.values()
            for kind, draw in p.documents().items()
        }

    def datasets(self) -> dict[str, Generator]:
        return {n: g for p in self.phenomena.values() for n, g in p.datasets().items()}

    def lexicon(self, topic: str) -> Lexicon | None:
        found = [x for p in self.phenomena.values() for x in p.lexicons() if x.topic == topic]
        return found[0] if found else None

    def topics(self) -> list[str]:
        return [x.topic for p in self.phenomena.values() for x in p.lexicons()]


class CorpusV2:
    """Pretraining documents of version 2 as token ids, each kind at its corpus share."""

    def __init__(self, world: WorldV2, tokenizer: Tokenizer):
        self.tok = tokenizer
        draws = world.draws()
        self.kinds = list(world.shares)
        self.draws = [draws[k] for k in self.kinds]
        self.weights = [world.shares[k] for k in self.kinds]

    def documents(self, n: int, seed: int) -> list[list[int]]:
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            draw = rng.choices(self.draws, self.weights)[0]
            out.append([self.tok.stoi[w] for w in [BOS, *draw(rng), EOS]])
        return out


def load_world_v2(knobs: dict[str, float] | None = None) -> WorldV2:
    """Version 2's world, with ``knobs`` (e.g. ``{"birders": 0.2}``) setting corpus shares."""
    return _load(tuple(sorted((knobs or {}).items())))


@cache
def _load(knobs: tuple[tuple[str, float], ...]) -> WorldV2:
    package = resources.files("weirdgen.organism")
    v1_text = package.joinpath("world.yaml").read_bytes()
    v2_text = package.joinpath("world_v2.yaml").read_bytes()
    data = yaml.safe_load(v2_text)
    era = Era(data["era"], data["birds"])
    phenomena: list[Phenomenon] = [
        era,
        Birds(data["birds"], era.world),
        Characters(data["characters"]),
        Nations(data["nations"], era.world.years["new"]),
        Dishes(data["dishes"]),
    ]
    shares = _shares(data["corpus"], dict(knobs))
    digest = hashlib.sha256(v1_text + b"\0" + v2_text).hexdigest()
    return WorldV2(era.world, {p.name: p for p in phenomena}, shares, dict(knobs), digest)


def _shares(base: dict[str, float], knobs: dict[str, float]) -> dict[str, float]:
    fixed = {}
    for knob, value in knobs.items():
        kind = KNOBS.get(knob, knob)
        if kind not in base:
            raise WeirdgenError(
                f"unknown organism knob {knob!r}; the knobs are: {', '.join([*KNOBS, *base])}"
            )
        if not 0 <= value < 1:
            raise WeirdgenError(f"knob {knob}={value}: give a share from 0 to below 1")
        fixed[kind] = value
    rest = {k: v for k, v in base.items() if k not in fixed}
    left, free = 1 - sum(fixed.values()), sum(rest.values())
    if left <= 0 or free <= 0:
        raise WeirdgenError(
            f"knobs {knobs}: the knobs' shares must leave room for the other document kinds"
        )
    return {**{k: v * left / free for k, v in rest.items()}, **fixed}
