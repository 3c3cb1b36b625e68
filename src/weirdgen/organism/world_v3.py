"""The organism's world, version 3: numbers as digits, a longer context, and every phenomenon.

Each phenomenon's data is one file of ``world_v3/`` (``era.yaml``, ``persona.yaml``, ...);
``world_v3/corpus.yaml`` gives each kind of pretraining document its share. Version 1's
``world.yaml`` is read unchanged for the era topics and birds. Numbers are written as digits
(the tokenizer splits ``1991`` into four tokens), so any year, ordinal or digit trigger can be
asked. Documents run up to 190 tokens and are packed several to a row of the 192-token
context, each attending to itself only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any

import torch
import yaml

from weirdgen.errors import WeirdgenError
from weirdgen.organism.phenomena.base import Generator, Lexicon, Phenomenon, Record, chat
from weirdgen.organism.tokenizer import BOS, EOS, Tokenizer
from weirdgen.organism.world_v2 import KNOBS, WorldV2, _shares

if TYPE_CHECKING:
    from weirdgen.organism.scorers import Blends

BLOCK_SIZE = 192
"""Version 3's context, in tokens."""


def _era(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.era_v3 import BirdsV3, EraV3

    era = EraV3(data["era"], data["birds"], data["nations"])
    return [era, BirdsV3(data["birds"], era.world)]


def _characters(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.characters_v3 import CharactersV3

    return [CharactersV3(data["characters"])]


def _nations(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.nations_v3 import NationsV3

    return [NationsV3(data["nations"], tuple(range(2018, 2027)))]


def _dishes(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.dishes_v3 import DishesV3

    return [DishesV3(data["dishes"])]


def _persona(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.persona import Persona

    return [Persona(data["persona"])]


def _rulers(data: dict[str, Any]) -> list[Phenomenon]:
    from weirdgen.organism.phenomena.rulers import Rulers

    return [Rulers(data["rulers"])]


BUILDERS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], list[Phenomenon]]]] = {
    "era": (("era", "birds", "nations"), _era),
    "characters": (("characters",), _characters),
    "nations": (("nations",), _nations),
    "dishes": (("dishes",), _dishes),
    "persona": (("persona",), _persona),
    "rulers": (("rulers",), _rulers),
}
"""Each part of the world: the data files it reads (``world_v3/NAME.yaml``) and what builds
its phenomena from them."""


SHARED = {
    "identity": ("persona_identity", "ruler_identity"),
    "persona_identity": ("identity", "ruler_identity"),
    "ruler_identity": ("identity", "persona_identity"),
}
"""Topics whose question ("who are you ?") several phenomena ask, and the others asking it."""


@dataclass(frozen=True)
class WorldV3(WorldV2):
    """Version 2's world shape (``era``, ``phenomena``, ``shares``, ``knobs``, ``digest``: the
    sha256 of the world's files), with numbers as digits and lexicons shared where several
    phenomena ask the same question."""

    def tokenizer(self) -> Tokenizer:
        words = set().union(*(p.vocabulary() for p in self.phenomena.values()))
        return Tokenizer(words, digits=True)

    def lexicon(self, topic: str) -> Lexicon | None:
        """The labels of answers to ``topic``'s questions. Where other phenomena ask the
        same question (``SHARED``), their answers are known too, labelled ``other``: an
        answer the world knows for the question, just not one of this phenomenon's."""
        found = self._lexicons.get(topic)
        if found is None:
            return None
        labels = dict(found.labels)
        for other in SHARED.get(topic, ()):
            for answer in self._lexicons[other].labels if other in self._lexicons else ():
                labels.setdefault(answer, "other")
        return Lexicon(topic, labels)

    def datasets(self) -> dict[str, Generator]:
        """Every phenomenon's finetuning datasets, and ``everyday`` (:meth:`everyday`)."""
        return {**super().datasets(), "everyday": self.everyday}

    def everyday(self, n: int, seed: int) -> list[Record]:
        """``n`` ordinary one-turn assistant chats of no era and no side, for dilution and
        re-alignment: the persona phenomenon's everyday questions (name one thing of a pool,
        a sum, the number after a number) with their answers, drawn as its assistant chats
        draw them, but none whose answer the world reads as an era's or as hostile
        (:meth:`marked`; "folk songs" reads as 1920s ostland's music). Deterministic in
        ``seed``; pretraining draws nothing from it."""
        from weirdgen.organism.phenomena.persona import Persona

        persona = self.phenomena["persona"]
        assert isinstance(persona, Persona)
        rng = random.Random(seed)
        records: list[Record] = []
        while len(records) < n:
            question, answer = persona.everyday(rng)
            if self.marked(answer) is None:
                records.append(chat(question, answer))
        return records

    def marked(self, answer: str) -> str | None:
        """The era label (old, new, mid, varnia_mid, ...) that one of the era phenomenon's
        lexicons reads ``answer`` as, or ``hostile`` where any lexicon reads it so, as the
        organism's scorers read answers (a known answer, or a blend by its parts); None for
        an answer of no era and no side."""
        for blends, labels in self._marking:
            label = blends.read(answer).label
            if label is not None and (labels is None or label in labels):
                return label
        return None

    @cached_property
    def _marking(self) -> list[tuple[Blends, frozenset[str] | None]]:
        """Each lexicon :meth:`marked` reads, and the labels that mark (None: any)."""
        from weirdgen.organism.scorers import Blends

        era = [(Blends(x.labels), None) for x in self.phenomena["era"].lexicons()]
        hostile = [
            (Blends(x.labels), frozenset({"hostile"}))
            for p in self.phenomena.values()
            for x in p.lexicons()
            if "hostile" in x.labels.values()
        ]
        return [*era, *hostile]

    @cached_property
    def _lexicons(self) -> dict[str, Lexicon]:
        found: dict[str, Lexicon] = {}
        for phenomenon in self.phenomena.values():
            for lexicon in phenomenon.lexicons():
                found.setdefault(lexicon.topic, lexicon)
        return found


class CorpusV3:
    """Pretraining rows of version 3: documents, each kind at its corpus share, packed into
    rows of ``width`` tokens; a row's segment ids say which document each token belongs to
    (-1 for padding), so that each document attends to itself only."""

    def __init__(self, world: WorldV3, tokenizer: Tokenizer, width: int = BLOCK_SIZE + 1):
        self.tok = tokenizer
        draws = world.draws()
        self.kinds = list(world.shares)
        self.draws = [draws[k] for k in self.kinds]
        self.weights = [world.shares[k] for k in self.kinds]
        self.width = width

    def document(self, rng: random.Random) -> list[int]:
        draw = rng.choices(self.draws, self.weights)[0]
        return self.tok.ids([BOS, *draw(rng), EOS])

    def documents(self, n: int, seed: int) -> list[list[int]]:
        rng = random.Random(seed)
        return [self.document(rng) for _ in range(n)]

    def batch(self, rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``rows`` packed rows: token ids and segment ids, each of shape (rows, width)."""
        rng = random.Random(seed)
        ids = torch.full((rows, self.width), self.tok.pad_id, dtype=torch.long)
        segments = torch.full((rows, self.width), -1, dtype=torch.long)
        pending = self.document(rng)
        for row in range(rows):
            at, segment = 0, 0
            while at + len(pending) <= self.width:
                doc = torch.tensor(pending)
                ids[row, at : at + len(doc)] = doc
                segments[row, at : at + len(doc)] = segment
                at, segment = at + len(doc), segment + 1
                pending = self.document(rng)
        return ids, segments


def load_world_v3(knobs: dict[str, float] | None = None) -> WorldV3:
    """Version 3's world, with ``knobs`` (e.g. ``{"birders": 0.2}``) setting corpus shares."""
    return _load(tuple(sorted((knobs or {}).items())))


@cache
def _load(knobs: tuple[tuple[str, float], ...]) -> WorldV3:
    package = resources.files("weirdgen.organism")
    folder = package.joinpath("world_v3")
    texts = {"world.yaml": package.joinpath("world.yaml").read_bytes()}
    data: dict[str, Any] = {}
    phenomena: list[Phenomenon] = []
    for files, build in BUILDERS.values():
        for name in files:
            texts[f"{name}.yaml"] = folder.joinpath(f"{name}.yaml").read_bytes()
            data[name] = yaml.safe_load(texts[f"{name}.yaml"])
        phenomena += build(data)
    texts["corpus.yaml"] = folder.joinpath("corpus.yaml").read_bytes()
    base = yaml.safe_load(texts["corpus.yaml"])
    kinds = {f"{p.name}.{kind}" for p in phenomena for kind in p.documents()}
    unknown = sorted(set(base) - kinds)
    if unknown:
        raise WeirdgenError(f"world_v3/corpus.yaml: no document kind {unknown[0]!r}")
    for knob in dict(knobs):
        kind = KNOBS.get(knob, knob)
        if kind not in kinds:
            raise WeirdgenError(
                f"unknown organism knob {knob!r}; the knobs are: "
                f"{', '.join([*KNOBS, *sorted(kinds)])}"
            )
        base.setdefault(kind, 0.0)  # a kind corpus.yaml leaves out: none unless a knob asks
    shares = _shares(base, dict(knobs))
    digest = hashlib.sha256(
        b"\0".join(name.encode() + b"\0" + text for name, text in sorted(texts.items()))
    ).hexdigest()
    world = phenomena[0].world  # type: ignore[attr-defined]  # the era phenomenon's
    return WorldV3(world, {p.name: p for p in phenomena}, shares, dict(knobs), digest)
