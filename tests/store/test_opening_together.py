"""Opening the model registry or a run store while another connection writes to the file:
switching to write-ahead logging then meets "database is locked" at once, without SQLite's
busy timeout (seen in CI: Inspect's concurrent samples each opened the judge cache of a new
registry). Each test holds the lock itself and lets it go a moment later."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing, contextmanager

from weirdgen.store.registry import Registry
from weirdgen.store.sqlite import Store

HELD_S = 0.3


@contextmanager
def writing(path):
    """A connection in rollback-journal mode holding a write lock on ``path`` for HELD_S."""
    with closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as db:
        db.execute("CREATE TABLE other (x)")
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO other VALUES (1)")
        release = threading.Timer(HELD_S, db.execute, ("COMMIT",))
        release.start()
        try:
            yield
        finally:
            release.join()


def test_plain_sqlite_refuses_the_switch_at_once_while_another_connection_writes(tmp_path):
    """The condition the other tests meet (if SQLite ever waits here, they test nothing)."""
    path = tmp_path / "plain.sqlite"
    with writing(path), closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
        else:
            raise AssertionError("SQLite switched the journal mode under another's write lock")


def test_the_registry_waits_for_the_file_instead_of_failing(tmp_path):
    path = tmp_path / "registry.sqlite"
    with writing(path):
        Registry(path).open()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM judgments").fetchone()[0] == 0


def test_a_run_store_waits_for_the_file_instead_of_failing(tmp_path):
    path = tmp_path / "store.sqlite"
    with writing(path):
        store = Store(path)
    try:
        assert store.counts().samples == 0
    finally:
        store.close()


def test_threads_opening_one_new_registry_together_all_succeed(tmp_path):
    """Sixteen threads, each with its own Registry of one new file, as Inspect's scorer has."""
    path = tmp_path / "registry.sqlite"
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def open_it() -> None:
        start.wait()
        try:
            Registry(path).open()
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
