"""A user's regular expressions (transform, scorer, judge and spec patterns), run bounded.

Patterns are compiled by the ``regex`` package, which matches Python's ``re`` syntax, and
every search or substitution stops after :data:`TIMEOUT_S`: a pattern that backtracks
catastrophically on some text (``(a|aa)+$`` on a long run of a's) gives one line naming the
spec field and the pattern instead of hanging a run.
"""

from __future__ import annotations

from collections.abc import Callable

import regex

from weirdgen.errors import WeirdgenError

TIMEOUT_S = 1.0
"""Most seconds one search or substitution may take; sane patterns take microseconds."""

Pattern = regex.Pattern
PatternError = regex.error
Where = str | Callable[[], str]
"""The field and the text a pattern ran on, for the error (a function: only made on error)."""


def compile_pattern(pattern: str, flags: int = 0) -> regex.Pattern:
    """``pattern`` compiled (``re`` syntax and flags); a :data:`PatternError` if it is not
    a regular expression."""
    return regex.compile(pattern, flags)


def search(pattern: regex.Pattern | str, text: str, where: Where) -> regex.Match | None:
    """The first match of ``pattern`` in ``text``, or None.

    Raises:
        WeirdgenError: the search ran over :data:`TIMEOUT_S`; ``where`` names the field and
            the text, e.g. ``spec.yaml: scorers[0].pattern, on the answer 'aaa...'``.
    """
    compiled = _compiled(pattern)
    try:
        return compiled.search(text, timeout=TIMEOUT_S)
    except TimeoutError:
        raise WeirdgenError(too_slow(compiled.pattern, where)) from None


def subn(
    pattern: regex.Pattern | str, replacement: str, text: str, where: Where
) -> tuple[str, int]:
    """``text`` with every match of ``pattern`` replaced, and how many there were.

    Raises:
        WeirdgenError: as :func:`search`.
    """
    compiled = _compiled(pattern)
    try:
        return compiled.subn(replacement, text, timeout=TIMEOUT_S)
    except TimeoutError:
        raise WeirdgenError(too_slow(compiled.pattern, where)) from None


def too_slow(pattern: str, where: Where) -> str:
    """The one line for a pattern that ran over the time limit."""
    where = where if isinstance(where, str) else where()
    return (
        f"{where}: pattern {pattern!r} ran over {TIMEOUT_S:g} s (it backtracks "
        "catastrophically on this text, as nested repeats such as (a|aa)+ do); rewrite it "
        "without a repeat inside a repeat"
    )


def _compiled(pattern: regex.Pattern | str) -> regex.Pattern:
    return pattern if isinstance(pattern, regex.Pattern) else regex.compile(pattern)
