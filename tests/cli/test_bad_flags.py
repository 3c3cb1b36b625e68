"""Flags and spec fields checked alike: one line naming the flag or field, exit 2, no run folder.

``--n`` and ``--seeds`` pass the spec's own checks; a seed must fit everything it reaches
(SQLite, torch, numpy, the fine-tuning APIs); a ``vary`` template's unknown name, a bad range
and an ``include:`` of a folder are refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import run_cli


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _line(path: Path, marker: str) -> int:
    lines = path.read_text().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if marker in line]
    return number


def test_n_over_the_limit_is_refused_as_in_a_spec(tmp_path, small_birds, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["run", small_birds, "--out", out, "--n", "200000"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    line = _one_line_error(code, err)
    assert line.startswith("error: --n 200000: spec field evaluation.n: ")
    assert "less than or equal to 100000" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("seeds", "needle"),
    [
        ("100000", "--seeds 100000: spec field seeds: give a count from 1 to 1000"),
        (f"{2**64},", f"--seeds {2**64},: spec field seeds[0]: seed {2**64} is over 2,147,483,647"),
        (f"0,{2**63}", f"--seeds 0,{2**63}: spec field seeds[1]: seed {2**63} is over"),
    ],
)
def test_seeds_out_of_range_are_one_line(tmp_path, small_birds, monkeypatch, capsys, seeds, needle):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["run", small_birds, "--out", out, f"--seeds={seeds}"], monkeypatch, capsys
    )
    line = _one_line_error(code, err)
    assert needle in line
    assert not out.exists()


def test_a_seed_too_large_for_sqlite_in_a_spec_is_refused_before_training(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    spec = spec_dict(seeds=[0, 2**63])
    path = write_spec(spec)
    out = tmp_path / "run"
    code, _, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    line = _one_line_error(code, err)
    assert f"{path}:{_line(path, str(2**63))}: spec field seeds[1]: seed {2**63} is over" in line
    assert not out.exists()


def test_an_unknown_vary_name_is_refused_not_sent(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    spec = spec_dict(seeds=1)
    sets = spec["evaluation"]["sets"]
    sets[0] = {
        "name": "unrelated",
        "vary": {"year": [1835, 2022]},
        "questions": [{"id": "invention", "paraphrases": ["in {yeer} , what is new ?"]}],
    }
    path = write_spec(spec)
    out = tmp_path / "run"
    code, _, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    line = _one_line_error(code, err)
    assert (
        f"{path}:{_line(path, '{yeer}')}: spec field evaluation.sets[0].questions[0]"
        ".paraphrases[0]: template variable {yeer} is not a vary variable; did you mean {year}?"
    ) in line
    assert not out.exists()


def test_a_vary_step_of_zero_names_the_step(tmp_path, write_spec, spec_dict, monkeypatch, capsys):
    spec = spec_dict()
    spec["evaluation"]["sets"][0] = {
        "name": "unrelated",
        "vary": {"year": {"from": 1830, "to": 1840, "step": 0}},
        "questions": [{"id": "invention", "paraphrases": ["in {year} , what is new ?"]}],
    }
    path = write_spec(spec)
    out = tmp_path / "run"
    code, _, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    line = _one_line_error(code, err)
    assert f"{path}:{_line(path, 'step: 0')}: spec field evaluation.sets[0].vary.year.step" in line
    assert "greater than or equal to 1 (got 0)" in line and "valid list" not in line
    assert not out.exists()


def test_an_include_of_a_folder_is_one_line_saying_so(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    (tmp_path / "questions").mkdir()
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["include"] = "questions"
    path = write_spec(spec)
    out = tmp_path / "run"
    code, _, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    line = _one_line_error(code, err)
    assert "spec field evaluation.sets[0].include: " in line
    assert "is a folder, not a question file; name a file in it" in line
    assert not out.exists()


def test_a_pretraining_seed_too_large_is_one_line_before_anything_runs(
    tmp_path, small_birds, monkeypatch, capsys
):
    out = tmp_path / "run"
    args = ["run", small_birds, "--out", out, "--pretraining-seeds", "0,3000000000"]
    line = _one_line_error(*run_cli(args, monkeypatch, capsys)[::2])
    assert "pretraining seed 3000000000 is outside 0 to 2,147,483,647" in line
    assert not out.exists()


def test_organism_pretrain_takes_seeds_in_the_same_range(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ckpt"
    args = ["organism", "pretrain", "--seed", "2147483648", "--steps", "1", "--out", out]
    line = _one_line_error(*run_cli(args, monkeypatch, capsys)[::2])
    assert "--seed" in line and "2147483647" in line
    assert not out.exists()
