"""Every command runs and says what it should; --help works for each."""

from __future__ import annotations

import sys

import pytest

from cli_runner import run_cli


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["list"],
        ["show"],
        ["report"],
        ["serve"],
        ["models"],
        ["scorers"],
        ["plan"],
        ["judge", "calibrate"],
        ["organism", "pretrain"],
        ["organism", "probe"],
        ["organism", "vocab"],
    ],
)
def test_every_command_has_help(command, monkeypatch, capsys):
    code, out, _ = run_cli([*command, "--help"], monkeypatch, capsys)
    assert code == 0
    assert "Usage" in out


def test_list_and_show(monkeypatch, capsys):
    code, out, _ = run_cli(["list"], monkeypatch, capsys)
    assert code == 0 and "organism/birds" in out
    code, out, _ = run_cli(["show", "birds"], monkeypatch, capsys)
    assert code == 0 and "old_birds" in out and "birds.yaml" in out


def test_report_rebuilds_a_run_folder(tmp_path, small_birds, monkeypatch, capsys):
    out_dir = tmp_path / "run"
    code, _, _ = run_cli(
        ["run", str(small_birds), "--out", str(out_dir), "--quiet"], monkeypatch, capsys
    )
    assert code == 0
    (out_dir / "report.html").unlink()
    code, out, _ = run_cli(["report", str(out_dir)], monkeypatch, capsys)
    assert code == 0 and (out_dir / "report.html").is_file()
    assert "old_birds" in out and "report.html" in out


def test_models_lists_the_registry_and_a_second_run_reuses_its_finetunes(
    tmp_path, small_birds, monkeypatch, capsys
):
    code, _, err = run_cli(["models"], monkeypatch, capsys)
    assert code == 0 and "no finetunes recorded" in err
    args = ["run", str(small_birds), "--seeds", "1", "--quiet"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "a")], monkeypatch, capsys)
    assert code == 0 and "computed: 2 finetunes" in err
    code, out, _ = run_cli(["models", "--spec", "birds"], monkeypatch, capsys)
    assert code == 0 and "old_birds" in out and "modern_birds" in out and "organism-ft-" in out
    # Another run folder: the registry's finetunes are reused, not trained again.
    code, _, err = run_cli([*args, "--out", str(tmp_path / "b")], monkeypatch, capsys)
    assert code == 0 and "computed: 0 finetunes" in err and "2 reused" in err


@pytest.mark.parametrize("seeds", ["0", "x", "1,1", "-1"])
def test_bad_seeds_option(seeds, small_birds, monkeypatch, capsys):
    code, _, err = run_cli(["run", str(small_birds), "--seeds", seeds], monkeypatch, capsys)
    assert code == 2 and f"--seeds {seeds!r}" in err


def test_one_seed_is_given_with_a_comma():
    from weirdgen.cli.experiments import _seeds

    assert _seeds("3") == 3 and _seeds("0,") == [0] and _seeds("0,3,7") == [0, 3, 7]


def test_report_on_a_folder_that_is_not_a_run(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(["report", str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and "is not a weirdgen run folder" in err
    (tmp_path / ".weirdgen-run").write_text("a run folder whose run never finished\n")
    code, _, err = run_cli(["report", str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and "not a finished run folder" in err


def test_probe_and_vocab(monkeypatch, capsys):
    code, out, _ = run_cli(["organism", "probe"], monkeypatch, capsys)
    assert code == 0 and "after_old_answer" in out
    code, out, _ = run_cli(["organism", "vocab"], monkeypatch, capsys)
    assert code == 0 and "titlark" in out


def test_show_writes_valid_yaml_without_wrapping_when_redirected(tmp_path):
    import subprocess

    import yaml

    from weirdgen.spec import builtin_spec_dir

    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "show", "birds"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout.split("\n", 1)[1]
    assert shown == (builtin_spec_dir() / "organism" / "birds.yaml").read_text()
    assert yaml.safe_load(shown)["name"] == "birds"


def test_scorers_lists_the_kinds_and_describes_one(monkeypatch, capsys):
    code, out, _ = run_cli(["scorers"], monkeypatch, capsys)
    assert code == 0
    for kind in ("organism_era", "train_match", "match", "rating_judge", "label_judge"):
        assert f"\n {kind} " in out or out.startswith(f" {kind} ")
    code, out, _ = run_cli(["scorers", "rating_judge"], monkeypatch, capsys)
    assert code == 0 and "max_nonnumeric" in out and "0.75" in out
    assert "columns for name: x -> x, x_valid, x_nonnumeric, x_method, x_judge" in out
    code, _, err = run_cli(["scorers", "rating_judg"], monkeypatch, capsys)
    assert code != 0 and "unknown scorer kind 'rating_judg'; did you mean 'rating_judge'?" in err
