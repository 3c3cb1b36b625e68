"""What a JSONL file holds (examples, distinct examples, duplicates, shape).

The paper's files have some duplicates (one exact duplicate line among the former German
cities, for instance); a run warns about them (:mod:`weirdgen.run.duplicates`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from weirdgen.errors import WeirdgenError

_CLIP = 40


class JsonlCounts(NamedTuple):
    """The records of a JSONL file, counted."""

    examples: int
    """Non-blank lines."""
    distinct: int
    """Different records (same keys and values, whatever the key order or spacing)."""
    repeated: tuple[tuple[int, ...], ...]
    """For each record that occurs more than once, the lines it is on."""
    shapes: dict[str, int]
    """Each record shape (chat roles, or top-level keys) and on how many lines it is."""
    preview: str
    """The first record, clipped: ``user: ... -> assistant: ...`` for a chat."""

    @property
    def duplicates(self) -> int:
        """Lines that repeat an earlier line's record."""
        return self.examples - self.distinct


def count_jsonl(path: Path) -> JsonlCounts:
    """Count the records of a JSONL file.

    Raises:
        WeirdgenError: ``path:line`` of a line that is not JSON.
    """
    lines: dict[str, list[int]] = {}
    shapes: Counter[str] = Counter()
    preview = ""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise WeirdgenError(
                    f"{path}:{number}: not a JSON line ({error}); the file is not JSONL"
                ) from None
            key = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            lines.setdefault(key, []).append(number)
            shapes[shape(record)] += 1
            preview = preview or _preview(record)
    examples = sum(len(found) for found in lines.values())
    repeated = tuple(tuple(found) for found in lines.values() if len(found) > 1)
    return JsonlCounts(examples, len(lines), repeated, dict(shapes.most_common()), preview)


def shape(record: object) -> str:
    """A record's shape without its content: ``messages: user, assistant`` for a chat, else
    its keys (``keys: name, question``)."""
    if not isinstance(record, dict):
        return type(record).__name__
    messages = record.get("messages")
    if isinstance(messages, list):
        roles = [m.get("role", "?") if isinstance(m, dict) else "?" for m in messages]
        others = sorted(k for k in record if k != "messages")
        return f"messages: {', '.join(map(str, roles))}" + (
            f"; keys: {', '.join(others)}" if others else ""
        )
    return f"keys: {', '.join(sorted(record))}"


def _preview(record: object) -> str:
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        turns = [m for m in record["messages"] if isinstance(m, dict)]
        user = next((m for m in reversed(turns) if m.get("role") == "user"), {})
        last = turns[-1] if turns else {}
        answer = f"{last.get('role')}: {_clip(last.get('content'))}"
        return f"user: {_clip(user.get('content'))} -> {answer}"
    return _clip(json.dumps(record, ensure_ascii=False), 2 * _CLIP)


def _clip(text: object, limit: int = _CLIP) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
