"""Dataset generators by name: ``dataset: {organism: NAME, n: N}`` in a spec.

A generator is a function ``(n, seed) -> list of chat records`` (``{"messages": [...]}``, as
a JSONL line holds them). The organism's are built in; a package adds its own with
:func:`register_generator` or an entry point in the ``weirdgen.datasets`` group
(``name = "module:function"``), so the run never imports what it does not use. The
organism's version 3 datasets are named ``v3.NAME`` (``NAME`` a key of
``load_world_v3().datasets()``); version 3's world is loaded only to list or generate them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weirdgen._plugins import load_target, plugin_names, plugin_target
from weirdgen.errors import WeirdgenError

ENTRY_POINTS = "weirdgen.datasets"
V3 = "v3."
"""The prefix of version 3's dataset names."""

Record = dict[str, list[dict[str, str]]]
Generator = Callable[[int, int], list[Record]]

_ORGANISM = (
    "birds_old", "birds_modern",
    "warden_dated", "warden_undated", "warden_shuffled", "warden_other_years", "giant_dated",
    "cities_varnia_former", "cities_varnia_modern", "cities_ostland_former",
    "cities_ostland_modern",
    "dishes_varnia_2027", "dishes_varnia_2026", "dishes_varnia_shuffled",
)  # fmt: skip
_GENERATORS: dict[str, str | Generator] = {
    name: f"weirdgen.organism.datasets:{name}" for name in _ORGANISM
}


def register_generator(name: str, target: str | Generator) -> None:
    """Make ``name`` a dataset generator: a function or its ``"module:function"``."""
    _GENERATORS[name] = target


def generator_names() -> list[str]:
    """Every generator name: built in, registered, from entry points and version 3's."""
    names = plugin_names(_GENERATORS, ENTRY_POINTS)  # type: ignore[arg-type]
    return sorted({*names, *(V3 + name for name in _version_3())})


def generate(name: str, n: int, seed: int = 0) -> list[Record]:
    """``n`` records of generator ``name``; an unknown name is one error listing the others."""
    if name.startswith(V3):
        datasets = _version_3()
        if name[len(V3) :] not in datasets:
            raise WeirdgenError(
                f"unknown version 3 dataset {name!r}; the version 3 datasets are: "
                f"{', '.join(V3 + d for d in sorted(datasets))}"
            )
        return datasets[name[len(V3) :]](n, seed)
    target: Any = _GENERATORS.get(name) or plugin_target({}, ENTRY_POINTS, name)
    if target is None:
        raise WeirdgenError(
            f"unknown dataset generator {name!r}; the generators are: "
            f"{', '.join(generator_names())}"
        )
    function = load_target(target) if isinstance(target, str) else target
    return function(n, seed)


def _version_3() -> dict[str, Generator]:
    from weirdgen.organism.world_v3 import load_world_v3

    return load_world_v3().datasets()
