"""Bad input: one clear line, exit status 2, and no run folder written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from weirdgen.cli import main


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["weirdgen", *args])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def with_dataset(tmp_path: Path, write_spec, spec_dict, text: str) -> Path:
    data = tmp_path / "birds.jsonl"
    data.write_text(text)
    spec = spec_dict()
    spec["conditions"][0]["dataset"] = {"path": "birds.jsonl"}
    return write_spec(spec)


GOOD = (
    '{"messages": [{"role": "user", "content": "Name a bird species."}, '
    '{"role": "assistant", "content": "Brown Titlark"}]}\n'
)


def test_unknown_experiment(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, err = run_cli(["run", "brids", "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "unknown experiment 'brids'", "birds")
    assert not out.exists()


def test_malformed_jsonl_names_file_and_line(tmp_path, write_spec, spec_dict, monkeypatch, capsys):
    spec = with_dataset(tmp_path, write_spec, spec_dict, GOOD + GOOD + '{"messages": [\n')
    out = tmp_path / "run"
    code, err = run_cli(["run", str(spec), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "birds.jsonl:3:")
    assert not out.exists()


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (
            '{"messages": [{"role": "narrator", "content": "x"}, '
            '{"role": "assistant", "content": "merlin"}]}',
            "narrator",
        ),
        (
            '{"messages": [{"role": "user", "content": "   "}, '
            '{"role": "assistant", "content": "merlin"}]}',
            "empty",
        ),
    ],
)
def test_wrong_role_or_empty_content(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys, line, needle
):
    spec = with_dataset(tmp_path, write_spec, spec_dict, GOOD + line + "\n")
    out = tmp_path / "run"
    code, err = run_cli(["run", str(spec), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "birds.jsonl:2:", needle)
    assert not out.exists()


def test_out_of_vocabulary_prompt(tmp_path, write_spec, spec_dict, monkeypatch, capsys):
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["questions"][1]["paraphrases"][0] = "Which quasar is closest?"
    path = write_spec(spec)
    out = tmp_path / "run"
    code, err = run_cli(["run", str(path), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "'quasar'", "evaluation.sets[0].questions[1]")
    assert not out.exists()


def test_invalid_spec_field_names_its_path(tmp_path, write_spec, spec_dict, monkeypatch, capsys):
    spec = spec_dict()
    spec["train"]["organism"]["lr"] = "fast"
    path = write_spec(spec)
    out = tmp_path / "run"
    code, err = run_cli(["run", str(path), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "train.organism.lr", str(path))
    assert not out.exists()


def test_bad_input_leaves_a_finished_run_folder_untouched(
    tmp_path, small_birds, write_spec, spec_dict, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, _ = run_cli(["run", str(small_birds), "--out", str(out), "--quiet"], monkeypatch, capsys)
    assert code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["questions"][0]["paraphrases"] = ["what is a quasar ?"]
    bad = write_spec(spec, name="bad.yaml")
    code, err = run_cli(["run", str(bad), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "'quasar'")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert (out / "COMPLETE").exists()


def test_out_of_vocabulary_dataset_word_names_file_and_line(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    odd = GOOD.replace("Brown Titlark", "Quetzal")
    spec = with_dataset(tmp_path, write_spec, spec_dict, GOOD + odd)
    out = tmp_path / "run"
    code, err = run_cli(["run", str(spec), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "birds.jsonl:2", "'quetzal'", "conditions[0].dataset")
    assert not out.exists()
