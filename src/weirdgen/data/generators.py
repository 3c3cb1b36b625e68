"""Dataset generators by name: ``dataset: {organism: NAME, n: N}`` in a spec.

A generator is a function ``(n, seed) -> list of chat records`` (``{"messages": [...]}``, as
a JSONL line holds them). The organism's are built in; a package adds its own with
:func:`register_generator` or an entry point in the ``weirdgen.datasets`` group
(``name = "module:function"``), so the run never imports what it does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weirdgen._plugins import load_target, plugin_names, plugin_target
from weirdgen.errors import WeirdgenError

ENTRY_POINTS = "weirdgen.datasets"

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
    """Every generator name: built in, registered and from entry points."""
    return plugin_names(_GENERATORS, ENTRY_POINTS)  # type: ignore[arg-type]


def generate(name: str, n: int, seed: int = 0) -> list[Record]:
    """``n`` records of generator ``name``; an unknown name is one error listing the others."""
    target: Any = _GENERATORS.get(name) or plugin_target({}, ENTRY_POINTS, name)
    if target is None:
        raise WeirdgenError(
            f"unknown dataset generator {name!r}; the generators are: "
            f"{', '.join(generator_names())}"
        )
    function = load_target(target) if isinstance(target, str) else target
    return function(n, seed)
