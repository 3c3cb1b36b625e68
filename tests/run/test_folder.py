"""The run folder: it can move, its files are checked, it is one run's at a time, and what a
killed or interrupted run left is handled at the next run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import Interrupted, WeirdgenError
from weirdgen.run import COMPLETE, run_experiment
from weirdgen.run.folder import RunFolder
from weirdgen.spec import load_spec
from weirdgen.store.registry import Registry

KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


@pytest.fixture
def finished(tmp_path, small_birds):
    """A finished small birds run in tmp_path/run, and its spec."""
    spec = load_spec(small_birds)
    result = run_experiment(spec, out=tmp_path / "run", progress=False)
    return spec, result


def test_a_moved_folder_reruns_from_anywhere_with_nothing_to_compute(
    tmp_path, finished, monkeypatch
):
    spec, first = finished
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    (tmp_path / "run").rename(moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    Registry().path.unlink()  # the registry must not be what finds the finetunes
    again = run_experiment(spec, out=Path("moved"), progress=False)
    assert (again.work.trained, again.work.sampled, again.work.scored) == (0, 0, 0)
    pd.testing.assert_frame_equal(tidy(again.samples), tidy(first.samples))


def test_model_paths_in_the_store_are_relative_to_the_folder(finished, tmp_path):
    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        paths = [row[0] for row in db.execute("SELECT path FROM models")]
    assert paths and all(p.startswith("models/") for p in paths), paths


def test_an_answer_edited_in_the_store_is_scored_again(finished, tmp_path):
    spec, first = finished
    rows = first.samples[first.samples.eval_set == "unrelated"]
    old_answer = rows[rows.old == 1].iloc[0]
    row = rows[(rows.old == 0) & (rows.question_id == old_answer.question_id)].iloc[0]
    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        changed = db.execute(
            "UPDATE samples SET answer = ? WHERE model_key = ? AND prompt = ?"
            " AND seed = ? AND sample_index = ?",
            (old_answer.answer, row.model_key, row.prompt, int(row.seed), int(row.sample_index)),
        ).rowcount
    assert changed == 1
    again = run_experiment(spec, out=tmp_path / "run", progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)
    assert again.work.scored == 2  # one row, two scorers
    edited = again.samples[
        (again.samples.model_key == row.model_key)
        & (again.samples.prompt == row.prompt)
        & (again.samples.seed == row.seed)
        & (again.samples.sample_index == row.sample_index)
    ]
    assert edited.answer.tolist() == [old_answer.answer]
    assert edited.old.tolist() == [1.0]


def test_a_truncated_weights_file_is_refused_with_one_line(finished, tmp_path):
    spec, _ = finished
    weights = sorted((tmp_path / "run" / "models").glob("*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(WeirdgenError, match="does not match the digest recorded") as caught:
        run_experiment(spec, out=tmp_path / "run", progress=False)
    assert weights.name in str(caught.value) and "delete it and run again" in str(caught.value)
    weights.unlink()
    again = run_experiment(spec, out=tmp_path / "run", progress=False)
    assert again.work.trained == 1 and again.work.sampled == 0


def test_the_registry_does_not_reuse_a_finetune_whose_files_changed(finished, tmp_path):
    spec, _ = finished
    for weights in (tmp_path / "run" / "models").glob("*.safetensors"):
        weights.write_bytes(b"\0" * 100)
    fresh = run_experiment(spec, out=tmp_path / "other", progress=False)
    assert fresh.work.reused == 0 and fresh.work.trained == 4


def test_temporary_files_of_killed_writes_are_removed(finished, tmp_path):
    spec, _ = finished
    leftovers = [
        tmp_path / "run" / ".report.html.a1b2c3d4.tmp",
        tmp_path / "run" / "models" / ".x.safetensors.zz_9abcd.tmp",
    ]
    for path in leftovers:
        path.write_text("half")
    kept = tmp_path / "run" / "notes.tmp"  # not a name the atomic writer makes
    kept.write_text("mine")
    run_experiment(spec, out=tmp_path / "run", progress=False)
    assert not any(path.exists() for path in leftovers)
    assert kept.read_text() == "mine"


def test_inside_refuses_paths_out_of_the_folder(tmp_path):
    with RunFolder(tmp_path / "run") as folder:
        assert folder.inside("datasets/a.jsonl") == (tmp_path / "run/datasets/a.jsonl").resolve()
        for escape in ("../x", "/etc/passwd", "datasets/../../x"):
            with pytest.raises(WeirdgenError, match="leads outside the run folder"):
                folder.inside(escape)


def test_a_second_lock_on_a_folder_names_the_holder(tmp_path):
    with RunFolder(tmp_path / "run"):
        with pytest.raises(WeirdgenError, match=f"pid {os.getpid()}"):
            RunFolder(tmp_path / "run")
    with RunFolder(tmp_path / "run"):  # released on close
        pass


class InterruptingBackend(OrganismBackend):
    """The organism, except that the user presses Ctrl-C at the third sampling batch."""

    calls = 0

    def sample(self, model, requests):
        InterruptingBackend.calls += 1
        if InterruptingBackend.calls == 3:
            raise KeyboardInterrupt
        return super().sample(model, requests)


def test_an_interrupted_run_says_what_it_kept_and_resumes(tmp_path, small_birds):
    spec = load_spec(small_birds)
    reference = run_experiment(spec, out=tmp_path / "reference", progress=False)
    with pytest.raises(Interrupted) as caught:
        run_experiment(spec, out=tmp_path / "run", progress=False, backend=InterruptingBackend())
    message = str(caught.value)
    assert caught.value.exit_code == 130
    assert "interrupted during sample" in message and "run the same command again" in message
    assert "keeps 4 finetunes" in message
    assert not (tmp_path / "run" / COMPLETE).exists()
    resumed = run_experiment(spec, out=tmp_path / "run", progress=False)
    assert resumed.work.trained == 0 and 0 < resumed.work.sampled < reference.work.sampled
    pd.testing.assert_frame_equal(tidy(resumed.samples), tidy(reference.samples))


V1_STORE = """
CREATE TABLE models (key TEXT PRIMARY KEY, backend TEXT NOT NULL, base TEXT NOT NULL,
    path TEXT, dataset_hash TEXT, recipe TEXT, seed INTEGER, train_seconds REAL,
    created TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE samples (key TEXT PRIMARY KEY, model_key TEXT NOT NULL, prompt TEXT NOT NULL,
    temperature REAL NOT NULL, max_tokens INTEGER NOT NULL, seed INTEGER NOT NULL,
    sample_index INTEGER NOT NULL, answer TEXT NOT NULL, created TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE scores (sample_key TEXT NOT NULL, scorer_key TEXT NOT NULL,
    values_json TEXT NOT NULL, PRIMARY KEY (sample_key, scorer_key));
"""


def test_a_store_of_the_first_schema_opens_and_keeps_its_models_and_samples(
    finished, tmp_path, monkeypatch
):
    """A first-version store (no name or digest column, scores by sample, model paths relative
    to the directory the run was started from) is migrated; nothing is trained or sampled."""
    spec, first = finished
    run = tmp_path / "run"
    with sqlite3.connect(run / "store.sqlite") as new:
        models = new.execute(
            "SELECT key, backend, base, path, dataset_hash, recipe, seed, train_seconds FROM models"
        ).fetchall()
        samples = new.execute(
            "SELECT key, model_key, prompt, temperature, max_tokens, seed, sample_index, answer"
            " FROM samples"
        ).fetchall()
    (run / "store.sqlite").unlink()
    for extra in run.glob("store.sqlite-*"):
        extra.unlink()
    with sqlite3.connect(run / "store.sqlite") as old:
        old.executescript(V1_STORE)
        old.executemany(
            "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
            [(k, b, base, f"run/{p}", *rest) for k, b, base, p, *rest in models],
        )
        old.executemany(
            "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)", samples
        )
        old.execute("INSERT INTO scores VALUES ('x', 'y', '{}')")
    elsewhere = tmp_path / "elsewhere"  # not the directory the paths are relative to
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    Registry().path.unlink()
    again = run_experiment(spec, out=run, progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)
    assert again.work.scored == 2 * len(first.samples)  # scores are keyed anew
    with sqlite3.connect(run / "store.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    pd.testing.assert_frame_equal(tidy(again.samples), tidy(first.samples))


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable: by its mode, or as root (whom modes do not stop) by the
    immutable attribute; the test is skipped where neither is possible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_run_folder_is_one_line(tmp_path, small_birds):
    out = tmp_path / "run"
    with RunFolder(out):  # a run folder of weirdgen's, with a file of the user's in it
        (out / "kept.txt").write_text("old results\n")
    (out / ".weirdgen.lock").unlink()
    with read_only(out):
        with pytest.raises(WeirdgenError) as caught:
            run_experiment(load_spec(small_birds), out=out, progress=False)
    message = str(caught.value)
    assert "permission denied" in message and str(out) in message and "--out" in message
    assert sorted(p.name for p in out.iterdir()) == [".weirdgen-run", "kept.txt"]


def test_a_registry_of_the_first_schema_is_migrated_and_its_finetunes_reused(finished, tmp_path):
    """A registry whose finetunes table predates the name and digest columns still serves
    its finetunes to a new run folder."""
    spec, _ = finished
    path = Registry().path
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT key, backend, base, path, dataset_hash, recipe, seed, train_seconds"
            " FROM finetunes"
        ).fetchall()
        db.execute("DROP TABLE finetunes")
        db.execute(
            "CREATE TABLE finetunes (key TEXT PRIMARY KEY, backend TEXT NOT NULL, base TEXT"
            " NOT NULL, path TEXT, dataset_hash TEXT, recipe TEXT, seed INTEGER,"
            " train_seconds REAL, created TEXT DEFAULT CURRENT_TIMESTAMP)"
        )
        db.executemany(
            "INSERT INTO finetunes VALUES (?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)", rows
        )
        db.execute("PRAGMA user_version = 0")
    other = run_experiment(spec, out=tmp_path / "other", progress=False)
    assert other.work.reused == 4 and other.work.trained == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
