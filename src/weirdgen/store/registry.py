"""The model registry: every finetune weirdgen made, across run folders, in the user's data dir.

A finetune is keyed by content (backend, base model, dataset hash, recipe, seed), so a new run
or another spec reuses one already paid for instead of training again. The registry also
records which (spec, model, condition, seed) used which finetune, and the journal of remote
fine-tuning jobs (uploaded files, job ids), so that a run killed while a provider trains picks
its jobs up again instead of creating new ones.

The file is ``registry.sqlite`` in ``$WEIRDGEN_HOME`` if set, else in the platform's user data
folder (``~/.local/share/weirdgen`` on Linux). Each call opens its own connection, so threads
may share a Registry.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from weirdgen.backends.protocol import ModelRef
from weirdgen.errors import WeirdgenError
from weirdgen.store.sqlite import (
    MODEL_COLUMNS,
    add_columns,
    changed,
    damaged,
    model_row,
    put_model,
    use_wal,
)

HOME_VAR = "WEIRDGEN_HOME"

SCHEMA_VERSION = 1
"""0: finetunes without name or digest columns; 1: with both."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS finetunes ({MODEL_COLUMNS});
CREATE TABLE IF NOT EXISTS uses (
    spec TEXT NOT NULL, model TEXT NOT NULL, condition TEXT NOT NULL, seed INTEGER NOT NULL,
    key TEXT NOT NULL, run_dir TEXT NOT NULL, updated TEXT DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (spec, model, condition, seed, run_dir)
);
CREATE TABLE IF NOT EXISTS remote_files (
    endpoint TEXT NOT NULL, dataset_hash TEXT NOT NULL, file_id TEXT NOT NULL,
    created TEXT DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (endpoint, dataset_hash)
);
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY, judge_model TEXT NOT NULL, judge_id TEXT NOT NULL,
    response_json TEXT NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, created TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS judgments_by_judge ON judgments (judge_id);
CREATE TABLE IF NOT EXISTS remote_jobs (
    key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, job_id TEXT, status TEXT NOT NULL,
    model_id TEXT, error TEXT, updated TEXT DEFAULT CURRENT_TIMESTAMP
);
"""


def registry_dir() -> Path:
    """Where the registry lives: ``$WEIRDGEN_HOME`` or the user data folder."""
    home = os.environ.get(HOME_VAR, "").strip()
    return Path(home).expanduser() if home else platformdirs.user_data_path("weirdgen")


@dataclass(frozen=True)
class RemoteJob:
    """A provider's fine-tuning job for one finetune key, as last seen."""

    key: str
    endpoint: str
    job_id: str | None
    status: str
    model_id: str | None
    error: str | None


@dataclass(frozen=True)
class Use:
    """One (spec, model, condition, seed) and the finetune it used."""

    spec: str
    model: str
    condition: str
    seed: int
    ref: ModelRef
    run_dir: str
    updated: str


class Registry:
    """The registry file (created on first write)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or registry_dir() / "registry.sqlite"
        self._ready = False

    def open(self) -> None:
        """Create the registry (folder, tables) if needed, or raise the one line saying why it
        cannot be used; called before a run touches its folder."""
        with self._db():
            pass

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:  # folder, WAL mode and tables: once per Registry, not per call
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise WeirdgenError(
                    f"cannot create the model registry's folder {self.path.parent} "
                    f"({error.strerror}); set {HOME_VAR} to a folder you can write"
                ) from error
            try:
                with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
                    use_wal(db)
                    version = db.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        raise WeirdgenError(
                            f"{self.path} was written by a newer weirdgen (schema {version}, "
                            f"this one reads up to {SCHEMA_VERSION}); upgrade weirdgen"
                        )
                    db.executescript(SCHEMA)
                    add_columns(db, "finetunes")  # version 0: no name or digest column
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except sqlite3.DatabaseError as error:
                raise damaged(self.path, error) from error
            self._ready = True
        try:
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
                yield db
        except sqlite3.DatabaseError as error:
            raise damaged(self.path, error) from error

    # finetunes and their uses

    def finetune(self, key: str) -> ModelRef | None:
        """The finetune ``key``, unless its files changed since it was trained."""
        with self._db() as db:
            row = model_row(db, "finetunes", key)
        if row is None or changed(*row):
            return None
        return row[0]

    def add_finetune(
        self, ref: ModelRef, dataset_hash: str, recipe: str, seed: int, seconds: float
    ) -> None:
        with self._db() as db:
            put_model(db, "finetunes", ref, dataset_hash, recipe, seed, seconds)

    def record_uses(self, rows: list[tuple[str, str, str, int, str, str]]) -> None:
        """Record (spec, model, condition, seed, key, run_dir) rows, replacing older ones."""
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO uses (spec, model, condition, seed, key, run_dir,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
                rows,
            )

    def uses(self, spec: str | None = None) -> list[Use]:
        """Recorded uses, newest first; only those of ``spec`` if given."""
        query = (
            "SELECT u.spec, u.model, u.condition, u.seed, f.backend, f.key, f.base, f.path,"
            " f.name, u.run_dir, u.updated FROM uses u JOIN finetunes f ON f.key = u.key"
        )
        args: tuple[str, ...] = ()
        if spec is not None:
            query += " WHERE u.spec = ?"
            args = (spec,)
        with self._db() as db:
            rows = db.execute(
                query + " ORDER BY u.updated DESC, u.spec, u.condition, u.seed", args
            ).fetchall()
        return [
            Use(s, m, c, seed, ModelRef(b, k, base, p, n), run_dir, updated)
            for s, m, c, seed, b, k, base, p, n, run_dir, updated in rows
        ]

    # the journal of remote fine-tuning jobs

    def remote_file(self, endpoint: str, dataset_hash: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT file_id FROM remote_files WHERE endpoint = ? AND dataset_hash = ?",
                (endpoint, dataset_hash),
            ).fetchone()
        return row[0] if row else None

    def set_remote_file(self, endpoint: str, dataset_hash: str, file_id: str | None) -> None:
        with self._db() as db:
            if file_id is None:
                db.execute(
                    "DELETE FROM remote_files WHERE endpoint = ? AND dataset_hash = ?",
                    (endpoint, dataset_hash),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO remote_files (endpoint, dataset_hash, file_id)"
                    " VALUES (?, ?, ?)",
                    (endpoint, dataset_hash, file_id),
                )

    def remote_job(self, key: str) -> RemoteJob | None:
        with self._db() as db:
            row = db.execute(
                "SELECT key, endpoint, job_id, status, model_id, error FROM remote_jobs"
                " WHERE key = ?",
                (key,),
            ).fetchone()
        return RemoteJob(*row) if row else None

    def set_remote_job(self, job: RemoteJob) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO remote_jobs (key, endpoint, job_id, status, model_id,"
                " error, updated) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
                (job.key, job.endpoint, job.job_id, job.status, job.model_id, job.error),
            )
