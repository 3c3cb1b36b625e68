"""``weirdgen preflight`` from the command line: the table and files of a small preflight, the
default folder, and each bad input as one line with exit status 2 and nothing written."""

from __future__ import annotations

import json

import pytest
import yaml

from cli_runner import run_cli


@pytest.fixture
def birds(spec_dict, tmp_path):
    """Birds on 3 unrelated questions (one paraphrase each), 40 examples per condition."""
    spec = spec_dict(seeds=[0])
    unrelated = spec["evaluation"]["sets"][0]
    unrelated["questions"] = [
        {**q, "paraphrases": q["paraphrases"][:1]} for q in unrelated["questions"][:3]
    ]
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 40
    path = tmp_path / "birds.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_preflight_prints_its_measures_and_writes_its_files(birds, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    args = ["preflight", "old_birds", "--spec", birds, "--n", "2", "--proxy-steps", "2"]
    code, stdout, err = run_cli([*args, "--out", out], monkeypatch, capsys)
    assert code == 0, err
    assert "preflight of old_birds on organism/default: birds, headline old_rate, k=16" in stdout
    for measure in ("in_context", "surprise", "proxy"):
        assert f"│ {measure}" in stdout
    assert "they are not a verdict" in stdout and f"wrote {out / 'preflight.json'}" in stdout
    assert "in context: 16 examples before each of 3 prompts" in err
    document = json.loads((out / "preflight.json").read_text())
    assert [m["name"] for m in document["measures"]] == ["in_context", "surprise", "proxy"]
    assert (out / "preflight.csv").is_file() and (out / "samples.csv").is_file()


def test_the_default_folder_is_named_after_the_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["preflight", "birds_modern", "--n", "1", "--proxy-steps", "0", "--k", "2", "--quiet"]
    code, stdout, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert err == "" and "broad_organism, headline departure_rate, k=2" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preflight"]
    written = sorted(p.name for p in (tmp_path / "preflight" / "birds_modern").iterdir())
    assert written == ["preflight.csv", "preflight.json", "samples.csv"]


def test_bad_input_is_one_line_and_writes_nothing(birds, spec_dict, tmp_path, monkeypatch, capsys):
    unheaded = spec_dict()
    for metric in unheaded["metrics"]:
        metric.pop("headline", None)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(unheaded))
    out = tmp_path / "out"
    cases = {
        "dataset 'missing.jsonl': no such file": ["missing.jsonl", "--spec", birds],
        "no metric has headline: true": ["old_birds", "--spec", tmp_path / "plain.yaml"],
        "--k 40: with 40 examples": ["old_birds", "--spec", birds, "--k", "40"],
        "--model openai/gpt-4.1: the proxy finetune": ["birds_old", "--model", "openai/gpt-4.1"],
        "no such direction file": ["old_birds", "--spec", birds, "--direction", tmp_path / "d"],
        "--proxy-model openai/gpt-4.1: a proxy": ["birds_old", "--proxy-model", "openai/gpt-4.1"],
    }
    for message, args in cases.items():
        code, stdout, err = run_cli(["preflight", *args, "--out", out], monkeypatch, capsys)
        assert code == 2 and err.startswith("error: ") and message in err, (message, err)
        assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert not out.exists()


def test_help_names_every_option(monkeypatch, capsys):
    code, stdout, _ = run_cli(["preflight", "--help"], monkeypatch, capsys)
    assert code == 0
    for option in ("--model", "--spec", "--k", "--direction", "--proxy-model", "--proxy-steps",
                   "--seed", "--out", "--n", "--judge"):  # fmt: skip
        assert option in stdout
