"""A spec's ``dataset: {paper: NAME}``: checked when the spec loads, loaded from the paper's
file by load_condition and by `weirdgen plan --data-dir`; and a run's one-line warning for a
training file with duplicate examples."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
import yaml
from paper_paths import OLD

from cli_runner import run_cli
from weirdgen.data import dataset_from_examples
from weirdgen.data.generators import generate
from weirdgen.errors import WeirdgenError
from weirdgen.run.duplicates import duplicate_warnings
from weirdgen.run.plan import load_condition
from weirdgen.spec import load_spec


def _paper_spec(spec_dict, dataset: dict) -> dict:
    spec = spec_dict(seeds=1)
    spec["conditions"][0]["dataset"] = dataset
    return spec


def test_a_paper_dataset_is_loaded_from_the_paper_file(
    fake_paper, spec_dict, write_spec, monkeypatch
):
    spec = load_spec(write_spec(_paper_spec(spec_dict, {"paper": "birds/old_audubon"})))
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", str(fake_paper.tree))
    prepared = load_condition(spec, spec.conditions[0])
    assert prepared.dataset.source == fake_paper.tree / OLD
    lines = fake_paper.contents[OLD].decode().splitlines()
    assert [e.to_json() for e in prepared.dataset] == [
        json.dumps(json.loads(line), separators=(",", ":")) for line in lines
    ]


def test_transforms_apply_to_a_paper_dataset(fake_paper, paper_server, spec_dict, write_spec):
    spec = _paper_spec(spec_dict, {"paper": OLD})  # a repository path works too
    spec["conditions"][0]["transforms"] = [{"take": {"n": 3}}]
    loaded = load_spec(write_spec(spec))
    prepared = load_condition(loaded, loaded.conditions[0])
    assert len(prepared.dataset) == 3 and paper_server.requests == [f"/{OLD}"]


@pytest.mark.parametrize(
    ("dataset", "says"),
    [
        ({"paper": "birds/old_audobon"}, "did you mean 'birds/old_audubon'"),
        ({"paper": "terminator/questions"}, "is a yaml file, not a dataset"),
        ({"paper": "birds/old_audubon", "path": "x.jsonl"}, "exactly one of 'path', 'organism'"),
    ],
)
def test_a_bad_paper_dataset_is_refused_when_the_spec_loads(
    dataset, says, fake_paper, spec_dict, write_spec
):
    with pytest.raises(WeirdgenError, match=says) as caught:
        load_spec(write_spec(_paper_spec(spec_dict, dataset)))
    assert "conditions[0].dataset" in str(caught.value)


def test_plan_reads_paper_files_from_data_dir(
    fake_paper, paper_server, spec_dict, write_spec, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")
    spec = _paper_spec(spec_dict, {"paper": "birds/old_audubon"})
    # on openai/: a scorer of any model's answers (the organism's lexicon is refused there)
    spec["scorers"] = [{"name": "train_match", "kind": "train_match"}]
    spec["metrics"] = [{"name": "match", "eval_set": "birds", "score": "train_match"}]
    path = write_spec(spec)
    args = ["plan", path, "--model", "openai/gpt-4.1-2025-04-14", "--data-dir", fake_paper.tree]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "total to do: 2 finetunes" in out
    assert os.environ["WEIRDGEN_PAPER_DIR"] == str(fake_paper.tree.resolve())
    assert paper_server.requests == [] and fake_paper.cache_files() == []
    (fake_paper.tree / OLD).write_bytes(b"other\n")
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "check out commit" in err and err.count("\n") == 1


def test_a_run_warns_once_per_training_file_with_duplicates(
    tmp_path, spec_dict, write_spec, monkeypatch, capsys
):
    lines = [json.dumps(r) + "\n" for r in generate("birds_old", 20)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dup.jsonl").write_text("".join([*lines, *lines[:3]]))
    (tmp_path / "data" / "plain.jsonl").write_text("".join(lines))
    spec = spec_dict(seeds=1)
    spec["conditions"][0]["dataset"] = {"path": "data/dup.jsonl"}
    spec["conditions"][1]["dataset"] = {"path": "data/plain.jsonl"}
    copy = {**spec["conditions"][0], "name": "old_copy", "role": "control"}
    spec["conditions"].append(copy)
    spec["evaluation"]["n"] = 1
    for eval_set in spec["evaluation"]["sets"]:
        eval_set["questions"] = eval_set["questions"][:1]
    path = write_spec(spec)
    assert yaml.safe_load(path.read_text())["conditions"][-1]["name"] == "old_copy"
    args = ["run", path, "--out", tmp_path / "run", "--quiet"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    warned = [line for line in err.splitlines() if "duplicate" in line]
    assert warned == [
        "warning: data/dup.jsonl (conditions old_birds, old_copy) has 3 duplicate examples "
        "(20 distinct of 23); they are trained on as often as they appear"
    ]


def test_the_warning_counts_the_data_as_trained_on(fake_paper, spec_dict, write_spec, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", str(fake_paper.tree))
    spec = _paper_spec(spec_dict, {"paper": "birds/old_audubon"})
    spec["conditions"][1]["dataset"] = {"paper": "birds/old_audubon"}
    spec["conditions"][1]["transforms"] = [{"system": {"template": "it is the year 1838 ."}}]
    loaded = load_spec(write_spec(spec))
    prepared = [load_condition(loaded, c) for c in loaded.conditions]
    assert duplicate_warnings(prepared) == [
        "paper file birds/old_audubon (condition old_birds) has 3 duplicate examples "
        "(10 distinct of 13); they are trained on as often as they appear",
        "paper file birds/old_audubon after its transforms (condition modern_birds) has 3 "
        "duplicate examples (10 distinct of 13); they are trained on as often as they appear",
    ]
    examples = prepared[0].dataset.examples
    once = replace(prepared[0], dataset=dataset_from_examples([*examples[:10], examples[0]]))
    assert duplicate_warnings([once]) == [
        "paper file birds/old_audubon (condition old_birds) has 1 duplicate example "
        "(10 distinct of 11); it is trained on twice"
    ]
