"""A value that never shows itself: an API key held in memory, readable by ``reveal`` only."""

from __future__ import annotations


class Redacted:
    """An API key: ``reveal`` gives it; ``repr`` and ``str`` give ``<redacted>``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__
