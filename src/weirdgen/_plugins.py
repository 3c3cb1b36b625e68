"""Plug-in tables: names mapped to ``"module:Class"`` targets, extended by entry points, and
imported only when used (backends, scorer kinds)."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any


def plugin_names(table: dict[str, str], group: str) -> list[str]:
    """Every name of ``table`` and of the entry-point ``group``, sorted."""
    return sorted({*table, *(e.name for e in metadata.entry_points(group=group))})


def plugin_target(table: dict[str, str], group: str, name: str) -> str | None:
    """The ``"module:Class"`` of ``name``: from ``table``, else an entry point; None if
    neither has it."""
    if name in table:
        return table[name]
    found = [e for e in metadata.entry_points(group=group) if e.name == name]
    return found[0].value if found else None


def load_target(target: str) -> Any:
    """Import ``"module:Class"`` and return the class."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
