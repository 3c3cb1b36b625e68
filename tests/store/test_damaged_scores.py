"""A stored score whose values_json was damaged or edited by hand is scored again, with a
warning naming the store, never a traceback (as an answer edited in the store is)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from cli_runner import run_cli
from weirdgen.run._work import Work
from weirdgen.run.score import score_rows
from weirdgen.score import build_scorer
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question
from weirdgen.store import Store

DAMAGED = ["{broken", "[1, 2]", "null", '{"match": [1]}', "", "5"]
"""Values no scorer writes: not JSON, JSON but not a mapping, a mapping of a non-value."""


def _damage(path, value, where: str = "") -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE scores SET values_json = ? {where}", (value,))


@pytest.mark.parametrize("value", DAMAGED)
def test_a_damaged_score_counts_as_not_stored_with_a_warning(tmp_path, value):
    warnings: list[str] = []
    store = Store(tmp_path / "store.sqlite", warn=warnings.append)
    store.add_scores("scorer-key", {"a": {"match": 1.0}, "b": {"match": 0.0}})
    store.close()
    _damage(tmp_path / "store.sqlite", int(value) if value == "5" else value, "WHERE item_key='a'")
    store = Store(tmp_path / "store.sqlite", warn=warnings.append)
    assert store.scores("scorer-key", ["a", "b"]) == {"b": {"match": 0.0}}
    (line,) = warnings
    assert line.startswith(f"{tmp_path / 'store.sqlite'}: 1 stored score of scorer scorer-key ")
    assert "not readable" in line and "scored again" in line
    store.add_scores("scorer-key", {"a": {"match": 1.0}})  # the rescored value replaces it
    assert store.scores("scorer-key", ["a", "b"]) == {"a": {"match": 1.0}, "b": {"match": 0.0}}
    assert len(warnings) == 1
    store.close()


def test_the_warning_is_one_line_on_stderr_by_default(tmp_path, capsys):
    store = Store(tmp_path / "store.sqlite")
    store.add_scores("k", {"a": {"match": 1.0}, "b": {"match": 1.0}})
    _damage(tmp_path / "store.sqlite", "{broken")
    assert store.scores("k", ["a", "b"]) == {}
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"warning: {tmp_path / 'store.sqlite'}: 2 stored scores of scorer k ")
    assert "they are scored again and replaced" in line
    store.close()


def test_scoring_computes_a_damaged_score_again_and_stores_it(tmp_path):
    scorer = build_scorer(
        ScorerSpec.model_validate({"name": "m", "kind": "match", "patterns": ["merlin"]})
    )
    question = Question(id="q", paraphrases=["name a bird ."])
    rows = [
        {"_key": f"s{i}", "answer": answer, "_question": question, "_train": None, "eval_set": "e"}
        for i, answer in enumerate(["merlin", "owl"])
    ]
    warnings: list[str] = []
    store = Store(tmp_path / "store.sqlite", warn=warnings.append)
    first = score_rows([dict(r) for r in rows], [scorer], store, Work())
    _damage(tmp_path / "store.sqlite", "{broken", "WHERE values_json LIKE '%1.0%'")
    work = Work()
    again = score_rows([dict(r) for r in rows], [scorer], store, work)
    assert work.scored == 1 and len(warnings) == 1
    assert again["m"].tolist() == first["m"].tolist() == [1.0, 0.0]
    with closing(sqlite3.connect(tmp_path / "store.sqlite")) as db:
        stored = [json.loads(v) for (v,) in db.execute("SELECT values_json FROM scores")]
    assert sorted(v["match"] for v in stored) == [0.0, 1.0]
    store.close()


def test_a_rerun_after_a_damaged_score_warns_and_rescores(
    tmp_path, small_birds, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, _, err = run_cli(["run", small_birds, "--out", out, "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    before = (out / "samples.csv").read_text()
    _damage(out / "store.sqlite", "{broken", "WHERE rowid = (SELECT MIN(rowid) FROM scores)")
    code, _, err = run_cli(["run", small_birds, "--out", out, "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and f"{out / 'store.sqlite'}: 1 stored score of scorer" in warned[0]
    assert "Traceback" not in err
    assert (out / "samples.csv").read_text() == before
    with closing(sqlite3.connect(out / "store.sqlite")) as db:
        for (value,) in db.execute("SELECT values_json FROM scores"):
            assert isinstance(json.loads(value), dict)
