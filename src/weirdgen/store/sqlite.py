"""The run store: one SQLite file per run folder holding models, samples and scores by content key.

A row is written only once its result exists (weights saved, answer drawn, score computed), and
each batch of rows commits in one transaction, so a killed run never leaves a half result and a
rerun computes exactly what is missing.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from weirdgen.backends.protocol import ModelRef
from weirdgen.errors import WeirdgenError
from weirdgen.store.digest import files_digest

MODEL_COLUMNS = """
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, base TEXT NOT NULL, path TEXT, name TEXT,
    dataset_hash TEXT, recipe TEXT, seed INTEGER, train_seconds REAL, digest TEXT,
    created TEXT DEFAULT CURRENT_TIMESTAMP
"""
"""A finetune's row: the columns of the run store's ``models`` and the registry's
``finetunes``, read and written by :func:`model_row` and :func:`put_model`. ``digest`` is
:func:`~weirdgen.store.digest.files_digest` of its files when it was trained."""

SCHEMA_VERSION = 2
"""1: scores keyed by sample; 2: scores keyed by everything the scorer reads, model digests."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS models ({MODEL_COLUMNS});
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY, model_key TEXT NOT NULL, prompt TEXT NOT NULL,
    temperature REAL NOT NULL, max_tokens INTEGER NOT NULL, seed INTEGER NOT NULL,
    sample_index INTEGER NOT NULL, answer TEXT NOT NULL,
    created TEXT DEFAULT CURRENT_TIMESTAMP, finish_reason TEXT
);
CREATE TABLE IF NOT EXISTS scores (
    item_key TEXT NOT NULL, scorer_key TEXT NOT NULL, values_json TEXT NOT NULL,
    PRIMARY KEY (item_key, scorer_key)
);
"""


def use_wal(db: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Put ``db`` in write-ahead-log mode, waiting up to ``wait_s`` for the file to be free.

    SQLite answers "database is locked" at once, without its busy timeout, when another
    connection holds a write lock while this one switches the journal mode; two processes
    or threads opening a new file together meet exactly that, so the switch is retried here.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.1)


@dataclass(frozen=True)
class StoredSample:
    """A sample row to insert: its content key and where the answer came from;
    ``finish_reason`` is why the answer ended (``stop``, ``length`` at max_tokens) where the
    backend says so, else None."""

    key: str
    model_key: str
    prompt: str
    temperature: float
    max_tokens: int
    seed: int
    sample_index: int
    answer: str
    finish_reason: str | None = None


class Counts(NamedTuple):
    """How many finetunes, samples and scores a store holds."""

    models: int
    samples: int
    scores: int


class Store:
    """Content-keyed results of one run folder.

    Model paths inside the run folder are stored relative to it, so the folder can be moved
    and a rerun from any working directory finds its finetunes.
    """

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None):
        self.path = Path(path).absolute()
        self.folder = self.path.parent
        self.warn = warn or _warn
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            _check_intact(self.db)
            use_wal(self.db)
            self.db.execute("PRAGMA synchronous=NORMAL")
            _migrate(self.db)
        except sqlite3.DatabaseError as error:
            raise damaged(self.path, error) from error

    def close(self) -> None:
        self.db.close()

    def model(self, key: str) -> ModelRef | None:
        """The stored finetune ``key``; a WeirdgenError if its files changed since training."""
        row = model_row(self.db, "models", key, self.folder)
        if row is None:
            return None
        ref, digest = row
        if changed(ref, digest):
            raise WeirdgenError(
                f"{ref.path} does not match the digest recorded when it was trained (damaged or "
                "edited); delete it and run again to retrain that finetune"
            )
        return ref

    def add_model(
        self, ref: ModelRef, dataset_hash: str, recipe: str, seed: int, seconds: float
    ) -> None:
        put_model(self.db, "models", ref, dataset_hash, recipe, seed, seconds, self.folder)

    def counts(self) -> Counts:
        return Counts(
            *(
                self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("models", "samples", "scores")
            )
        )

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

    def finish_reasons(self, keys: Sequence[str]) -> dict[str, str]:
        """Why the stored answers among ``keys`` ended, where the backend said (``stop``,
        ``length``...); answers without a recorded reason are left out."""
        found: dict[str, str] = {}
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(
                    f"SELECT key, finish_reason FROM samples WHERE key IN ({marks})"
                    " AND finish_reason IS NOT NULL",
                    chunk,
                ).fetchall()
            )
        return found

    def add_samples(self, rows: Iterable[StoredSample]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO samples (key, model_key, prompt, temperature, max_tokens,"
                " seed, sample_index, answer, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        r.finish_reason,
                    )
                    for r in rows
                ],
            )

    def scores(self, scorer_key: str, item_keys: Sequence[str]) -> dict[str, dict]:
        """Stored score values of one scorer, by item key (see ``run.plan.score_item_key``).

        A row whose values are not a JSON mapping of plain values (edited or damaged by
        hand) counts as not stored, so it is scored again and replaced, with one warning
        line naming the store and the scorer.
        """
        found: dict[str, dict] = {}
        damaged = 0
        for chunk in _chunks(item_keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, values in self.db.execute(
                f"SELECT item_key, values_json FROM scores WHERE scorer_key = ? AND item_key"
                f" IN ({marks})",
                (scorer_key, *chunk),
            ):
                parsed = _score_values(values)
                if parsed is None:
                    damaged += 1
                else:
                    found[key] = parsed
        if damaged:
            many = damaged > 1
            self.warn(
                f"{self.path}: {damaged} stored score{'s' if many else ''} of scorer "
                f"{scorer_key} {'are' if many else 'is'} not readable (values_json edited or "
                f"damaged); {'they are' if many else 'it is'} scored again and replaced"
            )
        return found

    def add_scores(self, scorer_key: str, values: dict[str, dict]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO scores (item_key, scorer_key, values_json)"
                " VALUES (?, ?, ?)",
                [(k, scorer_key, json.dumps(v)) for k, v in values.items()],
            )


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def _score_values(text: object) -> dict | None:
    """A stored score's values: a JSON mapping of plain values, or None if it is not one."""
    try:
        values = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
    plain = (str, int, float, bool, type(None))
    if not isinstance(values, dict) or not all(isinstance(v, plain) for v in values.values()):
        return None
    return values


def damaged(path: Path, error: sqlite3.DatabaseError) -> WeirdgenError:
    """The one line for a database file SQLite cannot read (or, for an OperationalError such
    as a read-only file, cannot use)."""
    if isinstance(error, sqlite3.OperationalError):
        return WeirdgenError(
            f"cannot use {path} ({error}); check that it and its folder are writable"
        )
    return WeirdgenError(
        f"{path} is damaged ({error}); move it away and run again (what it held is "
        "computed afresh), or restore it from a backup"
    )


def _check_intact(db: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError unless SQLite's quick check passes (milliseconds)."""
    problems = [row[0] for row in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(problems[:2]))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store of any earlier schema version up to :data:`SCHEMA_VERSION`."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise WeirdgenError(
            f"the store was written by a newer weirdgen (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); upgrade weirdgen"
        )
    if version == SCHEMA_VERSION:
        _add_finish_reason(db)
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "scores" in tables:  # version 1 keyed scores by sample: recomputed, not migrated
            columns = {row[1] for row in db.execute("PRAGMA table_info(scores)")}
            if "item_key" not in columns:
                db.execute("DROP TABLE scores")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        add_columns(db, "models")
        _add_finish_reason(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _add_finish_reason(db: sqlite3.Connection) -> None:
    """Give an earlier store's samples the nullable ``finish_reason`` column (answers drawn
    before it have none). Not a schema version: an older weirdgen reads and writes the
    store as before, naming its columns."""
    if "finish_reason" not in {row[1] for row in db.execute("PRAGMA table_info(samples)")}:
        db.execute("ALTER TABLE samples ADD COLUMN finish_reason TEXT")


def add_columns(db: sqlite3.Connection, table: str) -> None:
    """Add the :data:`MODEL_COLUMNS` that an older ``table`` lacks."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for column in ("name TEXT", "digest TEXT"):
        if column.split()[0] not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def model_row(
    db: sqlite3.Connection, table: str, key: str, folder: Path | None = None
) -> tuple[ModelRef, str | None] | None:
    """The model ``key`` of a table with :data:`MODEL_COLUMNS` and its digest, if it is there.

    A relative path is resolved against ``folder`` (the run folder). A store written before
    paths were relative to it holds paths relative to the directory it was run from: they are
    used where they still lead to the files, and otherwise the file of the same name in the
    run folder's ``models/`` is.
    """
    row = db.execute(
        f"SELECT backend, key, base, path, name, digest FROM {table} WHERE key = ?", (key,)
    ).fetchone()
    if not row:
        return None
    *fields, digest = row
    ref = ModelRef(*fields)
    if ref.path is not None and folder is not None and not Path(ref.path).is_absolute():
        written = Path(ref.path)
        candidates = [
            folder / written,  # relative to the run folder, as stores write them now
            written.absolute(),  # an earlier store, rerun from the directory it ran in
            folder / "models" / written.name,  # an earlier store, rerun from anywhere else
        ]
        found = next((c for c in candidates if c.exists()), candidates[0])
        ref = replace(ref, path=str(found))
    return ref, digest


def put_model(
    db: sqlite3.Connection,
    table: str,
    ref: ModelRef,
    dataset_hash: str,
    recipe: str,
    seed: int,
    seconds: float,
    folder: Path | None = None,
) -> None:
    """Insert (or replace) a finetune's row into a table with :data:`MODEL_COLUMNS`.

    Its files' digest is computed here; a path under ``folder`` is stored relative to it,
    any other path as an absolute one.
    """
    path = ref.path
    if path is not None:
        absolute = Path(path).absolute()
        path = str(absolute)
        if folder is not None and absolute.is_relative_to(folder):
            path = absolute.relative_to(folder).as_posix()
    db.execute(
        f"INSERT OR REPLACE INTO {table} (key, backend, base, path, name, dataset_hash, recipe,"
        " seed, train_seconds, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ref.key,
            ref.backend,
            ref.base,
            path,
            ref.name,
            dataset_hash,
            recipe,
            seed,
            seconds,
            files_digest(ref.path),
        ),
    )


def changed(ref: ModelRef, digest: str | None) -> bool:
    """The finetune's files exist but differ from the digest recorded at training time."""
    if digest is None or ref.path is None or not Path(ref.path).exists():
        return False
    return files_digest(ref.path) != digest


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]
