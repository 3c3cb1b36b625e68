"""Each organism version's world, tokenizer and corpus, by version name: what pretraining,
loading a checkpoint and ``weirdgen organism vocab`` share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from weirdgen.errors import WeirdgenError
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world import World


@dataclass(frozen=True)
class VersionWorld:
    """What a version's checkpoint rests on."""

    version: str
    era: World
    """The eras, topics and birds that probes and the era scorer read."""
    digest: str
    tokenizer: Tokenizer
    corpus: Any
    """What draws pretraining documents: ``documents(n, seed)`` or ``batch(rows, seed)``."""
    mix: dict[str, Any]
    """The corpus shares, as the manifest records them."""
    knobs: dict[str, float]


def version_world(version: str, knobs: dict[str, float] | None = None) -> VersionWorld:
    """The world of ``version`` (v1, v2, v3), with ``knobs`` setting corpus shares (v2, v3)."""
    if version == "v1":
        if knobs:
            raise WeirdgenError("--knob: version 1's world has no knobs; use --version v2 or v3")
        from weirdgen.organism.corpus import CorpusGenerator, CorpusMix
        from weirdgen.organism.world import load_world

        world = load_world()
        tokenizer = Tokenizer.for_world(world)
        corpus = CorpusGenerator(world, tokenizer)
        mix = asdict(CorpusMix())
        return VersionWorld(version, world, world.digest, tokenizer, corpus, mix, {})
    if version == "v2":
        from weirdgen.organism.world_v2 import CorpusV2, load_world_v2

        v2 = load_world_v2(knobs)
        tokenizer = v2.tokenizer()
        corpus = CorpusV2(v2, tokenizer)
        return VersionWorld(version, v2.era, v2.digest, tokenizer, corpus, v2.shares, v2.knobs)
    if version == "v3":
        from weirdgen.organism.world_v3 import CorpusV3, load_world_v3

        v3 = load_world_v3(knobs)
        tokenizer = v3.tokenizer()
        corpus = CorpusV3(v3, tokenizer)
        return VersionWorld(version, v3.era, v3.digest, tokenizer, corpus, v3.shares, v3.knobs)
    raise WeirdgenError(f"no organism version {version!r}; the versions are v1, v2, v3")
