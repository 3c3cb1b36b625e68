"""Backend settings read from the environment, with one-line errors for bad values."""

from __future__ import annotations

import os
from typing import TypeVar

from weirdgen.errors import WeirdgenError

N = TypeVar("N", int, float)


def number_from_env(var: str, kind: type[N], default: N, what: str, positive: bool) -> N:
    """``$var`` read as ``kind`` (``default`` when unset or empty); a value that is not a
    number, or is negative (or zero, where ``positive``), is a WeirdgenError saying what to
    set it to."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < 0 or (positive and value == 0):
        raise WeirdgenError(f"{var}={raw!r}: set it to {what} (default {default:g})")
    return value
