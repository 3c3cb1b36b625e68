"""Suites: experiments run as one into one folder, every member checked before any write, one
report with a section and a grid panel per member, stored work reused on a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import weirdgen.report.suite as suite_report
from cli_runner import run_cli
from weirdgen.errors import WeirdgenError
from weirdgen.run.folder import MARKER
from weirdgen.spec import builtin_spec_dir, load_spec

MEMBERS = ["birds", "birds_context"]


def small(name: str) -> dict:
    """The built-in organism experiment ``name`` at a tiny size: one seed, 20 finetuning
    examples, two unrelated questions, two samples per paraphrase."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / f"{name}.yaml").read_text())
    sets = [s for s in spec["evaluation"]["sets"] if s["name"] != "modern_year"]
    sets[0]["questions"] = sets[0]["questions"][:2]
    spec["evaluation"].update(sets=sets, n=2)
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    spec["seeds"] = 1
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 20
    return spec


def write_suite(folder: Path, members: list[str | dict], name: str = "pair") -> Path:
    """A suite file in ``folder`` listing ``members``: a name as it is, a spec dict written
    next to the suite as NAME.yaml."""
    entries = []
    for member in members:
        if isinstance(member, dict):
            (folder / f"{member['name']}.yaml").write_text(yaml.safe_dump(member))
            member = f"{member['name']}.yaml"
        entries.append(member)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "two", "suite": entries}))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    return write_suite(tmp_path, [small(name) for name in MEMBERS])


def test_a_suite_runs_each_member_into_its_folder_reports_them_and_reruns_for_free(
    pair, tmp_path, monkeypatch, capsys
):
    titles: list[list[str]] = []
    real_save = suite_report.save

    def save(figure, path):
        titles.append([ax.get_title() for ax in figure.axes if ax.get_visible()])
        return real_save(figure, path)

    monkeypatch.setattr(suite_report, "save", save)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", pair, "--out", out, "--quiet"], monkeypatch, capsys)
    assert code == 0, stderr
    for member in MEMBERS:  # each a run folder of its own, with its own report
        assert (out / member / MARKER).is_file() and (out / member / "report.html").is_file()
        assert load_spec(out / member / "spec.yaml").name == member
        assert f"{member}: old_rate per condition" in stdout
    assert (out / MARKER).is_file() and (out / "figures" / "grid.png").stat().st_size > 0
    assert titles == [["birds: old_rate", "birds_context: old_rate"]]
    summary = (out / "summary.md").read_text()
    assert [line for line in summary.splitlines() if line.startswith("## ")] == [
        "## birds",
        "## birds_context",
    ]
    assert "| **old_birds** | target | 1 |" in summary and "valid_rate [95% CI]" in summary
    assert "[birds_context/report.html](birds_context/report.html)" in summary
    assert '<a href="birds/report.html">' in (out / "report.html").read_text()
    assert "computed over 2 experiments: 3 finetunes (2 reused" in stderr  # shared data

    code, _, stderr = run_cli(["run", pair, "--out", out, "--quiet"], monkeypatch, capsys)
    assert code == 0, stderr
    assert "3 finetunes" not in stderr and "0 finetunes (0 reused" in stderr
    assert "0 samples, 0 scores" in stderr
    for member in MEMBERS:
        work = json.loads((out / member / "work.json").read_text())
        assert work["trained"] == work["sampled"] == work["scored"] == 0

    (out / "summary.md").unlink()
    (out / "figures" / "grid.png").unlink()
    reports = {m: (out / m / "report.html").stat().st_mtime_ns for m in MEMBERS}
    code, stdout, stderr = run_cli(["report", out], monkeypatch, capsys)
    assert code == 0, stderr
    assert (out / "summary.md").read_text() == summary and (out / "figures/grid.png").is_file()
    assert "birds_context: old_rate per condition" in stdout
    assert {m: (out / m / "report.html").stat().st_mtime_ns for m in MEMBERS} == reports


def test_an_unknown_member_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    suite = write_suite(tmp_path, [small("birds"), "brids"])
    out = tmp_path / "out"
    code, _, stderr = run_cli(["run", suite, "--out", out], monkeypatch, capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert f"{suite}:5: spec field suite[1]: unknown experiment 'brids'" in stderr
    assert "did you mean 'birds'?" in stderr and "organism/birds_context" in stderr
    assert not out.exists()


def test_a_member_failing_its_checks_stops_the_suite_before_any_write(
    tmp_path, monkeypatch, capsys
):
    broken = small("birds_context")
    broken["evaluation"]["sets"][0]["questions"][0]["paraphrases"] = ["what is a zeppelinx ?"]
    suite = write_suite(tmp_path, [small("birds"), broken])
    out = tmp_path / "out"
    code, _, stderr = run_cli(["run", suite, "--out", out, "--quiet"], monkeypatch, capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "suite member birds_context:" in stderr and "zeppelinx" in stderr
    assert not out.exists()  # the first member, fine, did not run either


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"name": "s", "suite": []}, "spec field suite: "),
        ({"name": "s", "suite": ["birds"], "members": 1}, "unknown field 'members'"),
        ({"name": "s", "suite": ["birds", "organism/birds"]}, "list each experiment once"),
    ],
)
def test_a_bad_suite_file_names_its_line_and_field(document, problem, tmp_path):
    from weirdgen.run.suite import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(WeirdgenError, match=problem) as caught:
        load_suite(path)
    assert str(caught.value).startswith(f"{path}:")


def test_suites_are_listed_as_suites_and_are_not_one_experiment(monkeypatch, capsys):
    code, stdout, _ = run_cli(["list"], monkeypatch, capsys, columns=240)
    assert code == 0 and "organism/all (suite)" in stdout
    assert "birds, cities, dishes, persona, rulers, terminator" in stdout
    with pytest.raises(WeirdgenError, match="a suite of experiments, not one experiment"):
        load_spec("organism/all")


def test_a_valid_rate_by_keys_is_read_at_the_headlines_questions(spec_dict):
    """A valid rate computed per trigger is read at the headline's trigger ("017", which a
    CSV reads back as 17); a plain `<score>_valid` metric on the same questions comes first."""
    from weirdgen.report.suite import _headline_rows, valid_rate
    from weirdgen.spec.models import ExperimentSpec

    spec = spec_dict()
    questions = spec["evaluation"]["sets"][0]["questions"]
    for question, trigger in zip(questions, ["017", "018"], strict=False):
        question["metadata"] = {"trigger": trigger}
    spec["metrics"][0]["where"] = {"trigger": "017"}
    spec["metrics"][1]["by"] = ["trigger"]
    valid = valid_rate(ExperimentSpec.model_validate(spec))
    assert valid == ("valid_rate", {"trigger": "017"})
    summary = pd.DataFrame(
        {
            "condition": ["old_birds"] * 3,
            "metric": ["old_rate", "valid_rate", "valid_rate"],
            "mean": [0.5, 0.9, 0.1],
            "trigger": [None, 17, 18],
        }
    )
    rows = _headline_rows(summary, ExperimentSpec.model_validate(spec))
    assert rows["mean"].tolist() == [0.5, 0.9]
    plain = {"name": "valid_017", "eval_set": "unrelated", "score": "old_valid"}
    spec["metrics"].append({**plain, "where": {"trigger": "017"}})
    assert valid_rate(ExperimentSpec.model_validate(spec)) == ("valid_017", {})


def test_one_experiment_is_not_run_into_a_suites_folder(tmp_path, monkeypatch, capsys):
    from weirdgen.run.folder import MARKER, SUITE_FILE

    out = tmp_path / "suite_out"
    out.mkdir()
    (out / MARKER).write_text("")
    (out / SUITE_FILE).write_text("name: pair\n")
    spec = tmp_path / "birds.yaml"
    spec.write_text(yaml.safe_dump(small("birds")))
    before = sorted(p.name for p in out.iterdir())
    code, _, stderr = run_cli(["run", spec, "--out", out], monkeypatch, capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "holds a suite's run (suite.yaml)" in stderr and str(out / "NAME") in stderr
    assert sorted(p.name for p in out.iterdir()) == before
