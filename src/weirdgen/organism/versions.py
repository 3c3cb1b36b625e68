"""Organism checkpoints by name: ``organism/v1``, ``organism/v1@S``, ``organism/default``.

A version is a world and the recipe that pretrains a model on it; ``@S`` picks a
pretraining seed. The package ships seed 0 of each version; ``weirdgen organism pretrain
--seed S`` writes other seeds into the user data folder (``organism/<version>@<S>/``), where
these names find them. ``default`` is the newest shipped version. A name that is a folder
path is that checkpoint folder.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from weirdgen.errors import WeirdgenError

VERSIONS = ("v1", "v2", "v3")
"""Organism versions, oldest first; each keeps loading once a newer one ships."""
DEFAULT = "v3"
"""The version ``organism/default`` names: the newest one the package ships."""
_SHIPPED = {"v1": "checkpoint", "v2": "checkpoint_v2", "v3": "checkpoint_v3"}
SHIPPED_SEED = 0
_NAME = re.compile(r"^(?P<version>v\d+)(?:@(?P<seed>\d{1,6}))?$")


class Named(NamedTuple):
    """A checkpoint a name refers to: its version and pretraining seed, and its folder."""

    version: str
    seed: int
    folder: Path


def shipped_folder(version: str) -> Path:
    """The package's checkpoint of ``version`` (pretraining seed 0)."""
    return Path(str(resources.files("weirdgen.organism").joinpath(_SHIPPED[version])))


def pretrained_folder(version: str, seed: int) -> Path:
    """Where ``weirdgen organism pretrain --seed SEED`` puts ``version``'s checkpoint."""
    from weirdgen.store.registry import registry_dir

    return registry_dir() / "organism" / f"{version}@{seed}"


def parse_name(name: str) -> tuple[str, int] | None:
    """``(version, seed)`` for ``default``, ``v1`` or ``v1@3``; None for anything else."""
    if name in ("", "default"):
        return DEFAULT, SHIPPED_SEED
    found = _NAME.match(name)
    if found is None:
        return None
    return found["version"], int(found["seed"] or SHIPPED_SEED)


def check_version(version: str, where: str) -> None:
    """Raise one line, starting with ``where``, unless ``version`` is an organism version."""
    if version not in VERSIONS:
        raise WeirdgenError(
            f"{where}: no organism version {version!r}; the versions are "
            f"{', '.join(VERSIONS)} (organism/default is {DEFAULT})"
        )


def resolve(name: str) -> Named | None:
    """The checkpoint ``name`` names, or None when it is not a version name (a folder path).

    Raises:
        WeirdgenError: an unknown version, or a seed not pretrained yet (with the command
            that pretrains it).
    """
    parsed = parse_name(name)
    if parsed is None:
        return None
    version, seed = parsed
    check_version(version, f"organism/{name}")
    if seed == SHIPPED_SEED and (shipped_folder(version) / "manifest.json").is_file():
        return Named(version, seed, shipped_folder(version))
    folder = pretrained_folder(version, seed)
    if not (folder / "manifest.json").is_file():
        raise WeirdgenError(
            f"organism/{name}: pretraining seed {seed} of {version} is not pretrained yet "
            f"(looked in {folder}); run `weirdgen organism pretrain --version {version} "
            f"--seed {seed}` first"
        )
    return Named(version, seed, folder)


def pretrained_seeds(version: str) -> list[int]:
    """The seeds of ``version`` at hand: the shipped one, then those pretrained here."""
    seeds = {SHIPPED_SEED} if (shipped_folder(version) / "manifest.json").is_file() else set()
    parent = pretrained_folder(version, SHIPPED_SEED).parent
    for folder in parent.glob(f"{version}@*") if parent.is_dir() else ():
        parsed = parse_name(folder.name)
        if parsed and (folder / "manifest.json").is_file():
            seeds.add(parsed[1])
    return sorted(seeds)
