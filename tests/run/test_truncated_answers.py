"""Answers cut at max_tokens are counted, not scored as whole unseen: the openai backend says
why each answer ended, the run store keeps it (a rerun draws nothing and still knows), the
samples table has it, and the report warns per condition. A backend that does not say
leaves the column empty and the report silent."""

from __future__ import annotations

import sqlite3

import pytest

from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.organism import OrganismBackend
from weirdgen.run import run_experiment
from weirdgen.serve import OrganismEngine, serve_in_background
from weirdgen.spec import load_spec
from weirdgen.stats.truncation import truncation_warnings
from weirdgen.store import Store

KEY = "sk-truncated-" + "4" * 24


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture
def short_answers(write_spec, spec_dict):
    """The organism's birds, answered over the API with room for one token only."""
    spec = spec_dict(
        seeds=[0],
        model="openai/organism/default",
        conditions=[{"name": "a", "role": "target"}, {"name": "b", "role": "control"}],
    )
    spec["evaluation"].update(n=2, max_tokens=1)
    return write_spec(spec)


def test_cut_answers_are_stored_tabled_and_reported(organism, short_answers, tmp_path):
    spec = load_spec(short_answers)
    out = tmp_path / "run"
    with serve_in_background(OrganismEngine(organism)) as url:
        backend = OpenAIBackend("organism/default", base_url=url, api_key=KEY)
        first = run_experiment(spec, out=out, backend=backend, progress=False)
        again = run_experiment(spec, out=out, backend=backend, progress=False)
    reasons = first.samples["finish_reason"]
    cut = int(reasons.eq("length").sum())
    assert 0 < cut and set(reasons) <= {"length", "stop"}
    assert again.work.sampled == 0  # from the store, with why each answer ended
    assert again.samples["finish_reason"].tolist() == reasons.tolist()
    with sqlite3.connect(out / "store.sqlite") as db:
        stored = db.execute("SELECT COUNT(*) FROM samples WHERE finish_reason = 'length'")
        assert stored.fetchone()[0] == cut // 2  # conditions a and b share the base model
    lines = truncation_warnings(first.samples)
    assert len(lines) == 2 and lines[0].startswith(f"{cut // 2} of {len(reasons) // 2} answers")
    assert "condition a stopped at max_tokens" in lines[0]
    summary = (out / "summary.md").read_text()
    assert "stopped at max_tokens (finish_reason length)" in summary


def test_a_backend_that_does_not_say_leaves_the_column_empty(organism, short_answers, tmp_path):
    spec = load_spec(short_answers).model_copy(update={"model": "organism/default"})
    result = run_experiment(spec, out=tmp_path / "run", backend=organism, progress=False)
    assert result.samples["finish_reason"].isna().all()
    assert truncation_warnings(result.samples) == []
    assert "stopped at max_tokens" not in (tmp_path / "run" / "summary.md").read_text()


def test_a_store_without_the_column_gets_it_and_keeps_its_answers(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:  # the samples table as weirdgen wrote it before
        db.execute(
            "CREATE TABLE samples (key TEXT PRIMARY KEY, model_key TEXT NOT NULL, prompt TEXT"
            " NOT NULL, temperature REAL NOT NULL, max_tokens INTEGER NOT NULL, seed INTEGER"
            " NOT NULL, sample_index INTEGER NOT NULL, answer TEXT NOT NULL, created TEXT"
            " DEFAULT CURRENT_TIMESTAMP)"
        )
        db.execute("INSERT INTO samples VALUES ('k', 'm', 'p', 1.0, 8, 0, 0, 'a', NULL)")
        db.execute("PRAGMA user_version = 2")
    store = Store(path)
    assert store.answers(["k"]) == {"k": "a"} and store.finish_reasons(["k"]) == {}
    store.close()
