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


@pytest.mark.parametrize(
    ("paraphrase", "needle"),
    [
        ("what is a quasar ?", "'quasar'"),
        (" ".join(["what"] * 190), "exceeds the organism's context"),  # longer than 192 tokens
    ],
)
def test_bad_input_leaves_a_finished_run_folder_untouched(
    paraphrase, needle, tmp_path, small_birds, write_spec, spec_dict, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, _ = run_cli(["run", str(small_birds), "--out", str(out), "--quiet"], monkeypatch, capsys)
    assert code == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["questions"][0]["paraphrases"] = [paraphrase]
    bad = write_spec(spec, name="bad.yaml")
    code, err = run_cli(["run", str(bad), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, needle)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert after == before
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


# Usage errors: one line, exit 2, for every command.


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "birds", "--n", "0"], "'--n'"),
        (["run", "birds", "--n", "abc"], "'--n'"),
        (["run"], "Missing argument 'experiment'"),
        (["run", "birds", "--bogus"], "No such option: --bogus"),
        (["serve", "--port", "-1"], "'--port'"),
        (["serve", "--port", "70000"], "'--port'"),
        (["organism", "pretrain", "--steps", "abc"], "'--steps'"),
        (["list", "extra"], "unexpected extra argument"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(args, monkeypatch, capsys)
    assert_one_line_error(code, err, needle, "--help'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seeds", [[0, -1], -3, 0])
def test_negative_or_no_seeds_are_refused_in_a_spec(
    seeds, tmp_path, write_spec, monkeypatch, capsys
):
    path = write_spec(seeds=seeds)
    code, err = run_cli(["run", str(path), "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_one_line_error(code, err, "spec field seeds")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seeds", ["0,-1", "-2", "0"])
def test_negative_or_no_seeds_are_refused_on_the_command_line(
    seeds, tmp_path, small_birds, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, err = run_cli(
        ["run", str(small_birds), "--out", str(out), f"--seeds={seeds}"], monkeypatch, capsys
    )
    assert_one_line_error(code, err, "--seeds")
    assert not out.exists()


# Names used as paths.


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/escaped", "a/b", "..", ""])
def test_a_condition_name_that_is_a_path_is_refused_when_the_spec_loads(
    name, tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    spec = spec_dict()
    spec["conditions"][1]["name"] = name
    path = write_spec(spec)
    out = tmp_path / "deep" / "run"
    code, err = run_cli(["run", str(path), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "spec field conditions[1].name")
    assert not (tmp_path / "deep").exists()
    assert not (tmp_path / "escaped").exists()


def test_an_experiment_name_that_is_a_path_is_refused(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    spec = spec_dict()
    spec["name"] = "../outside"
    path = write_spec(spec)
    code, err = run_cli(["run", str(path)], monkeypatch, capsys)
    assert_one_line_error(code, err, "spec field name")
    assert not (tmp_path / "outside").exists() and not (tmp_path / "runs").exists()


# Limits, checked before anything is written.


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"evaluation.n": 1_000_000_000}, "evaluation.n"),
        ({"seeds": 1_000_000_000}, "spec field seeds"),
        ({"evaluation.n": 90_000}, "samples, over the 5,000,000"),
        ({"evaluation.max_tokens": 190}, "exceeds the organism's context of 192 tokens"),
        ({"conditions.0.dataset.n": 10**9}, "conditions[0].dataset.n"),
        ({"train.organism.epochs": 10**15}, "train.organism.epochs"),
        ({"evaluation.temperature": float("inf")}, "evaluation.temperature"),
    ],
)
def test_limits_are_checked_up_front(
    change, needle, tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    spec = spec_dict()
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    out = tmp_path / "run"
    code, err = run_cli(["run", str(write_spec(spec)), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_a_huge_dataset_line_is_refused_without_reading_it_into_the_model(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    words = " ".join(["brown titlark"] * 2_700_000)  # a 37 MB answer
    huge = GOOD.replace("Brown Titlark", words)
    spec = with_dataset(tmp_path, write_spec, spec_dict, GOOD + huge)
    out = tmp_path / "run"
    code, err = run_cli(["run", str(spec), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "birds.jsonl:2:", "characters, over the 4,000,000")
    assert not out.exists()


def test_a_training_example_longer_than_the_context_is_refused_up_front(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    long = GOOD.replace("Brown Titlark", " ".join(["brown titlark"] * 100))
    spec = with_dataset(tmp_path, write_spec, spec_dict, GOOD + long)
    out = tmp_path / "run"
    code, err = run_cli(["run", str(spec), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "birds.jsonl:2", "longer than the organism's context")
    assert not out.exists()


# The run folder itself.


def test_out_naming_a_file_or_a_path_under_a_file(tmp_path, small_birds, monkeypatch, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    code, err = run_cli(["run", str(small_birds), "--out", str(a_file)], monkeypatch, capsys)
    assert_one_line_error(code, err, "is a file, not a folder")
    code, err = run_cli(
        ["run", str(small_birds), "--out", str(a_file / "run")], monkeypatch, capsys
    )
    assert_one_line_error(code, err, f"{a_file} is a file, not a folder")
    assert a_file.read_text() == "keep me\n"


def test_a_damaged_store_is_one_line(tmp_path, small_birds, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".weirdgen-run").write_text("a run folder whose store was damaged\n")
    (out / "store.sqlite").write_bytes(b"this is not a database" * 100)
    code, err = run_cli(["run", str(small_birds), "--out", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "store.sqlite is damaged", "move it away")
    assert not (out / "spec.yaml").exists()


def test_a_corrupt_samples_parquet_is_one_line_in_report(
    tmp_path, small_birds, monkeypatch, capsys
):
    out = tmp_path / "run"
    code, _ = run_cli(["run", str(small_birds), "--out", str(out), "--quiet"], monkeypatch, capsys)
    assert code == 0
    parquet = out / "samples.parquet"
    parquet.write_bytes(parquet.read_bytes()[:200])
    code, err = run_cli(["report", str(out)], monkeypatch, capsys)
    assert_one_line_error(code, err, "samples.parquet cannot be read", "weirdgen run")


def test_a_run_folder_in_use_is_refused_naming_the_holder(
    tmp_path, small_birds, monkeypatch, capsys
):
    import os

    from weirdgen.run.folder import RunFolder

    out = tmp_path / "run"
    with RunFolder(out):
        code, err = run_cli(["run", str(small_birds), "--out", str(out)], monkeypatch, capsys)
        assert_one_line_error(code, err, "in use by another weirdgen run", f"pid {os.getpid()}")
        assert not (out / "spec.yaml").exists()
    code, _ = run_cli(["run", str(small_birds), "--out", str(out), "--quiet"], monkeypatch, capsys)
    assert code == 0


def test_a_damaged_registry_is_one_line(tmp_path, small_birds, monkeypatch, capsys):
    from weirdgen.store.registry import Registry

    path = Registry().path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00garbage" * 1000)
    code, err = run_cli(["models"], monkeypatch, capsys)
    assert_one_line_error(code, err, "registry.sqlite is damaged", "move it away")
    code, err = run_cli(
        ["run", str(small_birds), "--out", str(tmp_path / "run")], monkeypatch, capsys
    )
    assert_one_line_error(code, err, "registry.sqlite is damaged")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("knobs", "needle"),
    [
        (["--version", "v1", "--knob", "birders=0.1"], "version 1's world has no knobs"),
        (["--version", "v2", "--knob", "owls=0.1"], "unknown organism knob 'owls'"),
        (["--version", "v2", "--knob", "birders=0.6", "--knob", "era.almanac=0.5"], "room"),
        (["--version", "v9"], "no organism version 'v9'; the versions are v1, v2, v3"),
    ],
)
def test_a_bad_knob_stops_pretraining_before_it_starts(
    knobs, needle, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "ckpt"
    args = ["organism", "pretrain", *knobs, "--steps", "1", "--out", str(out)]
    code, err = run_cli(args, monkeypatch, capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()
