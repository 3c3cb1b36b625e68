"""The judge cache: every judge call's response, shared by all runs in the model registry.

A judgment is keyed by what decides the judge's response: the judge model, the rendered
judge prompt and the call's settings (see :func:`judgment_key`). The same (question, answer)
pair judged by the same judge is therefore judged once, across conditions, seeds, runs and
specs. Only responses that arrived are stored; a failed call leaves no row, so it is made
again next time. Each row keeps the call's token counts, for cost accounting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from weirdgen.store.registry import Registry


def judgment_key(
    judge_model: str, messages: Sequence[tuple[str, str]], settings: dict[str, Any]
) -> str:
    """Content key of one judge call: the model's key, the messages sent (role, content)
    and the settings."""
    parts = [judge_model, json.dumps(settings, sort_keys=True)]
    parts += [f"{role}\x1e{content}" for role, content in messages]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Judgment:
    """A stored judge response (what the model said or its logprobs) and its token counts."""

    key: str
    judge_model: str
    judge_id: str
    response: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0


class JudgmentCache:
    """Judge responses stored in the model registry's database (``registry.sqlite``)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()

    def _db(self):
        return self.registry._db()  # the registry creates the judgments table

    def get(self, keys: Sequence[str]) -> dict[str, Judgment]:
        """The stored judgments among ``keys``, by key."""
        found: dict[str, Judgment] = {}
        with self._db() as db:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for row in db.execute(
                    "SELECT key, judge_model, judge_id, response_json, prompt_tokens, "
                    f"completion_tokens FROM judgments WHERE key IN ({marks})",
                    chunk,
                ):
                    found[row[0]] = Judgment(row[0], row[1], row[2], json.loads(row[3]), *row[4:])
        return found

    def put(self, judgments: Iterable[Judgment]) -> None:
        """Store judgments that arrived (never a failed call)."""
        rows = [
            (
                j.key,
                j.judge_model,
                j.judge_id,
                json.dumps(j.response, ensure_ascii=False),
                j.prompt_tokens,
                j.completion_tokens,
            )
            for j in judgments
        ]
        if not rows:
            return
        with self._db() as db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO judgments (key, judge_model, judge_id, response_json, "
                "prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
