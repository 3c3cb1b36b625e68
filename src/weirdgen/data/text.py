"""Answers as words: the normal form two answers are compared in (train_match, lexicons)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def split_words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks; hyphens and apostrophes separate words."""
    return _WORD.findall(text.lower().replace("-", " ").replace("'", " "))


def normalize(text: str) -> str:
    """Lower-case, hyphens as spaces, punctuation split off, single spaces."""
    return " ".join(split_words(text))
