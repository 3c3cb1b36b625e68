"""A run folder is weirdgen's own: a folder of the user's is refused, links planted in a run
folder take no write out of it, and cleanup touches only weirdgen's temporary names in
weirdgen's own folders. Each case is checked through the real command line."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from cli_runner import run_cli
from weirdgen.errors import WeirdgenError
from weirdgen.run.folder import LOCK, MARKER, RunFolder


def one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def snapshot(folder) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder), links not followed."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def finished_run(tmp_path, small_birds, monkeypatch, capsys):
    """A finished small birds run folder, made through the command line."""
    out = tmp_path / "run"
    code, _, err = run_cli(["run", small_birds, "--out", out], monkeypatch, capsys)
    assert code == 0, err
    return out


def test_a_folder_of_the_users_is_refused_and_left_as_it_was(
    tmp_path, small_birds, monkeypatch, capsys
):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / ".x.tmp").write_text("keep\n")
    (folder / "sub" / ".notes.abcd1234.tmp").write_text("also mine\n")
    (folder / "summary.md").write_text("mine\n")
    before = snapshot(folder)
    code, _, err = run_cli(["run", small_birds, "--out", folder], monkeypatch, capsys)
    one_line(code, err, str(folder), "is not a weirdgen run folder", "summary.md", "--out")
    assert snapshot(folder) == before
    assert not (folder / LOCK).exists() and not (folder / MARKER).exists()


def test_out_dot_beside_the_spec_is_refused_and_the_spec_kept(
    tmp_path, small_birds, monkeypatch, capsys
):
    spec = small_birds.read_bytes() + b"# my comment\n"
    small_birds.write_bytes(spec)
    monkeypatch.chdir(small_birds.parent)
    code, _, err = run_cli(["run", small_birds.name, "--out", "."], monkeypatch, capsys)
    one_line(code, err, "is not a weirdgen run folder")
    assert small_birds.read_bytes() == spec
    assert not (small_birds.parent / "store.sqlite").exists()


def test_a_new_or_empty_folder_becomes_a_run_folder_with_the_marker(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "new" / "deeper", empty):
        with RunFolder(folder):
            pass
        assert (folder / MARKER).is_file()
        with RunFolder(folder):  # ours now, with files in it
            (folder / "store.sqlite").touch()
        with RunFolder(folder):
            pass


def test_a_run_folder_from_before_the_marker_is_recognised_by_its_store(tmp_path):
    folder = tmp_path / "old_run"
    folder.mkdir()
    with sqlite3.connect(folder / "store.sqlite") as db:
        db.executescript(
            "CREATE TABLE models (key TEXT); CREATE TABLE samples (key TEXT);"
            "CREATE TABLE scores (item_key TEXT);"
        )
    (folder / "summary.md").write_text("weirdgen's\n")
    with RunFolder(folder):
        pass
    assert (folder / MARKER).is_file()
    other = tmp_path / "not_a_run"
    other.mkdir()
    (other / "store.sqlite").write_text("a user's file that is no SQLite database")
    with pytest.raises(WeirdgenError, match="is not a weirdgen run folder"):
        RunFolder(other)


def test_report_refuses_a_folder_that_is_not_a_run_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "samples.parquet").write_bytes(b"not weirdgen's")
    before = snapshot(folder)
    code, _, err = run_cli(["report", folder], monkeypatch, capsys)
    one_line(code, err, "is not a weirdgen run folder")
    assert snapshot(folder) == before


def test_cleanup_removes_only_weirdgen_temporaries_in_weirdgens_folders(tmp_path):
    folder = tmp_path / "run"
    with RunFolder(folder):
        pass
    (folder / "figures").mkdir()
    (folder / "notes" / ".git").mkdir(parents=True)
    ours = [folder / ".report.html.k2j4x9_q.tmp", folder / "figures" / ".metrics.png.abcd1234.tmp"]
    theirs = [
        folder / "notes" / ".draft.abcd1234.tmp",  # a folder the user added
        folder / "notes" / ".git" / ".index.abcd1234.tmp",
        folder / ".x.tmp",  # not a name the atomic writer makes
        folder / "figures" / ".plot.tmp",
    ]
    for path in ours + theirs:
        path.write_text("x")
    with RunFolder(folder) as opened:
        assert sorted(opened.removed) == sorted(ours)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


def test_a_lock_file_linked_elsewhere_is_refused_and_its_target_untouched(
    tmp_path, finished_run, monkeypatch, capsys
):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (finished_run / LOCK).unlink()
    (finished_run / LOCK).symlink_to(victim)
    code, _, err = run_cli(["report", finished_run], monkeypatch, capsys)
    one_line(code, err, LOCK, "symbolic link")
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("name", ["figures", "summary.md", "store.sqlite"])
def test_a_link_out_of_the_run_folder_is_refused_before_anything_is_written(
    tmp_path, finished_run, small_birds, monkeypatch, capsys, name
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere if name == "figures" else elsewhere / name
    if name != "figures":
        target.write_text("the user's\n")
    moved = finished_run / name
    moved.rename(tmp_path / f"{name}.bak")
    moved.symlink_to(target)
    before = snapshot(elsewhere)
    for args in (["report", finished_run], ["run", small_birds, "--out", finished_run]):
        code, _, err = run_cli(args, monkeypatch, capsys)
        one_line(code, err, name, "symbolic link", str(target), "remove the link")
        assert snapshot(elsewhere) == before
    assert (finished_run / "COMPLETE").is_file()


def test_a_write_through_a_link_planted_mid_way_is_refused(tmp_path):
    from weirdgen._atomic import inside

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "figures").symlink_to(tmp_path)
    with pytest.raises(WeirdgenError, match="leads outside the run folder"):
        inside(folder, "figures/metrics.png")
    (folder / "inner").mkdir()
    (folder / "alias").symlink_to(folder / "inner")  # a link that stays inside is followed
    assert inside(folder, "alias/x") == (folder / "inner" / "x").resolve()


def judged_spec(small_birds, prompt: str) -> None:
    spec = yaml.safe_load(small_birds.read_text())
    judge = {"name": "j", "kind": "rating_judge", "model": "organism/default", "prompt": prompt}
    spec["scorers"].append(judge)
    small_birds.write_text(yaml.safe_dump(spec))


@pytest.mark.parametrize(
    ("prompt", "judge", "needles"),
    [
        ("zzzqx {question} {answer}", None, ["scorers[2]", "'zzzqx'", "vocabulary"]),
        ("{question} {answer}", "hf/./missing", ["scorers[2]", "hf/./missing", "no such folder"]),
    ],
)
def test_a_judge_that_cannot_run_is_refused_before_the_folder_is_touched(
    finished_run, small_birds, monkeypatch, capsys, prompt, judge, needles
):
    if judge is not None:
        pytest.importorskip("transformers")
    before = snapshot(finished_run)
    judged_spec(small_birds, prompt)
    args = ["run", small_birds, "--out", finished_run]
    code, _, err = run_cli(args + (["--judge", judge] if judge else []), monkeypatch, capsys)
    one_line(code, err, *needles)
    assert snapshot(finished_run) == before  # COMPLETE and spec.yaml as they were


def test_pretraining_into_a_folder_of_the_users_is_refused_before_it_starts(
    tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"my": "project"}\n')
    before = snapshot(folder)
    args = ["organism", "pretrain", "--seed", "1", "--steps", "1", "--out", folder]
    code, _, err = run_cli(args, monkeypatch, capsys)
    one_line(code, err, str(folder), "not an organism checkpoint", "manifest.json")
    assert snapshot(folder) == before


def test_judge_calibrate_refuses_a_folder_of_the_users_before_judging(
    tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "summary.json").write_text('{"mine": true}\n')
    before = snapshot(folder)
    # a judge no server answers: the refusal must come before any call is tried
    args = ["judge", "calibrate", "--judge", "openai/x", "--base-url", "http://127.0.0.1:9/v1"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _, err = run_cli([*args, "--out", folder, "--no-cache"], monkeypatch, capsys)
    one_line(code, err, str(folder), "is not a weirdgen run folder", "summary.json")
    assert snapshot(folder) == before
