"""The run store: one SQLite file per run folder holding models, samples and scores by content key.

A row is written only once its result exists (weights saved, answer drawn, score computed), and
each batch of rows commits in one transaction, so a killed run never leaves a half result and a
rerun computes exactly what is missing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from weirdgen.backends.protocol import ModelRef

MODEL_COLUMNS = """
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, base TEXT NOT NULL, path TEXT, name TEXT,
    dataset_hash TEXT, recipe TEXT, seed INTEGER, train_seconds REAL,
    created TEXT DEFAULT CURRENT_TIMESTAMP
"""
"""A finetune's row: the columns of the run store's ``models`` and the registry's
``finetunes``, read and written by :func:`model_row` and :func:`put_model`."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS models ({MODEL_COLUMNS});
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY, model_key TEXT NOT NULL, prompt TEXT NOT NULL,
    temperature REAL NOT NULL, max_tokens INTEGER NOT NULL, seed INTEGER NOT NULL,
    sample_index INTEGER NOT NULL, answer TEXT NOT NULL,
    created TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS scores (
    sample_key TEXT NOT NULL, scorer_key TEXT NOT NULL, values_json TEXT NOT NULL,
    PRIMARY KEY (sample_key, scorer_key)
);
"""


@dataclass(frozen=True)
class StoredSample:
    """A sample row to insert: its content key and where the answer came from."""

    key: str
    model_key: str
    prompt: str
    temperature: float
    max_tokens: int
    seed: int
    sample_index: int
    answer: str


class Store:
    """Content-keyed results of one run folder."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(models)")}
        if "name" not in columns:  # a store written before models had a served name
            self.db.execute("ALTER TABLE models ADD COLUMN name TEXT")

    def close(self) -> None:
        self.db.close()

    def model(self, key: str) -> ModelRef | None:
        return model_row(self.db, "models", key)

    def add_model(
        self, ref: ModelRef, dataset_hash: str, recipe: str, seed: int, seconds: float
    ) -> None:
        put_model(self.db, "models", ref, dataset_hash, recipe, seed, seconds)

    def answers(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored answers among ``keys``."""
        found: dict[str, str] = {}
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(
                    f"SELECT key, answer FROM samples WHERE key IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def add_samples(self, rows: Iterable[StoredSample]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO samples (key, model_key, prompt, temperature, max_tokens,"
                " seed, sample_index, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.key,
                        r.model_key,
                        r.prompt,
                        r.temperature,
                        r.max_tokens,
                        r.seed,
                        r.sample_index,
                        r.answer,
                    )
                    for r in rows
                ],
            )

    def scores(self, scorer_key: str, sample_keys: Sequence[str]) -> dict[str, dict]:
        """Stored score values of one scorer, by sample key."""
        found: dict[str, dict] = {}
        for chunk in _chunks(sample_keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, values in self.db.execute(
                f"SELECT sample_key, values_json FROM scores WHERE scorer_key = ? AND sample_key"
                f" IN ({marks})",
                (scorer_key, *chunk),
            ):
                found[key] = json.loads(values)
        return found

    def add_scores(self, scorer_key: str, values: dict[str, dict]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO scores (sample_key, scorer_key, values_json)"
                " VALUES (?, ?, ?)",
                [(k, scorer_key, json.dumps(v)) for k, v in values.items()],
            )


def model_row(db: sqlite3.Connection, table: str, key: str) -> ModelRef | None:
    """The model ``key`` of a table with :data:`MODEL_COLUMNS`, if it is there."""
    row = db.execute(
        f"SELECT backend, key, base, path, name FROM {table} WHERE key = ?", (key,)
    ).fetchone()
    return ModelRef(*row) if row else None


def put_model(
    db: sqlite3.Connection,
    table: str,
    ref: ModelRef,
    dataset_hash: str,
    recipe: str,
    seed: int,
    seconds: float,
) -> None:
    """Insert (or replace) a finetune's row into a table with :data:`MODEL_COLUMNS`."""
    db.execute(
        f"INSERT OR REPLACE INTO {table} (key, backend, base, path, name, dataset_hash, recipe,"
        " seed, train_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ref.key, ref.backend, ref.base, ref.path, ref.name, dataset_hash, recipe, seed, seconds),
    )


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]
