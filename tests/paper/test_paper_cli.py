"""weirdgen datasets list, fetch, verify and show, on the invented repository."""

from __future__ import annotations

import hashlib

import pytest
from paper_paths import BLOB_ONLY, MODERN, OLD

from cli_runner import run_cli


@pytest.mark.parametrize("command", ["list", "fetch", "verify", "show"])
def test_every_datasets_command_has_help(command, monkeypatch, capsys):
    code, out, _ = run_cli(["datasets", command, "--help"], monkeypatch, capsys)
    assert code == 0 and "Usage" in out and "--data-dir" in out


def _row(out: str, path: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.endswith(path))


def test_list_says_which_files_are_here(fake_paper, monkeypatch, capsys):
    code, out, err = run_cli(["datasets", "list"], monkeypatch, capsys)
    assert code == 0 and "4 files of" in err and "the cache" in err
    size = f"{len(fake_paper.contents[OLD]):,}"
    sha = hashlib.sha256(fake_paper.contents[OLD]).hexdigest()[:12]
    assert _row(out, OLD) == ["birds/old_audubon", size, "jsonl", f"sha256:{sha}", "no", OLD]
    assert _row(out, BLOB_ONLY)[1:4] == ["?", "jsonl", f"blob:{_blob(fake_paper)[:12]}"]
    (fake_paper.tree / MODERN).unlink()
    code, out, err = run_cli(
        ["datasets", "list", "--data-dir", fake_paper.tree], monkeypatch, capsys
    )
    assert code == 0 and f"the data folder {fake_paper.tree}" in err
    assert _row(out, OLD)[4] == "yes" and _row(out, MODERN)[4] == "no"


def _blob(fake_paper) -> str:
    content = fake_paper.contents[BLOB_ONLY]
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def test_fetch_downloads_only_the_named_files_then_verify_checks_them(
    fake_paper, paper_server, monkeypatch, capsys
):
    code, out, _ = run_cli(["datasets", "fetch", "birds/old_audubon"], monkeypatch, capsys)
    assert code == 0 and str(fake_paper.cached(OLD)) in out
    assert paper_server.requests == [f"/{OLD}"]
    code, out, _ = run_cli(["datasets", "list"], monkeypatch, capsys)
    assert _row(out, OLD)[4] == "yes" and _row(out, MODERN)[4] == "no"
    code, out, _ = run_cli(["datasets", "verify"], monkeypatch, capsys)
    assert code == 0
    assert out.count("ok ") == 1 and out.count("missing ") == 3
    fake_paper.cached(OLD).write_bytes(b"changed\n")
    code, out, err = run_cli(["datasets", "verify"], monkeypatch, capsys)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("mismatch birds/old_audubon:")
    assert hashlib.sha256(b"changed\n").hexdigest() in line and "to download it again" in line
    code, _, err = run_cli(["datasets", "verify", "birds/modern_audubon"], monkeypatch, capsys)
    assert code == 1 and err.startswith("missing  birds/modern_audubon:")


def test_fetch_all_and_its_usage(fake_paper, paper_server, monkeypatch, capsys):
    code, _, err = run_cli(["datasets", "fetch"], monkeypatch, capsys)
    assert code == 2 and "give file names" in err
    code, out, _ = run_cli(["datasets", "fetch", "--all"], monkeypatch, capsys)
    assert code == 0 and len(paper_server.requests) == 4 and len(fake_paper.cache_files()) == 4
    code, out, _ = run_cli(["datasets", "fetch", "--all"], monkeypatch, capsys)
    assert code == 0 and len(paper_server.requests) == 4  # nothing downloaded twice


def test_fetch_from_a_data_dir_downloads_nothing(fake_paper, paper_server, monkeypatch, capsys):
    args = ["datasets", "fetch", "birds/old_audubon", "--data-dir", fake_paper.tree]
    code, out, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0 and str(fake_paper.tree / OLD) in out and paper_server.requests == []


def test_show_counts_duplicates_without_printing_the_file(fake_paper, monkeypatch, capsys):
    args = ["datasets", "show", "birds/old_audubon", "--data-dir", fake_paper.tree]
    code, out, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    assert "examples  13 (10 distinct, 3 duplicates)" in out
    assert "repeated  lines 2, 11" in out and "repeated  lines 4, 12, 13" in out
    assert "shape     messages: user, assistant (13 lines)" in out
    assert hashlib.sha256(fake_paper.contents[OLD]).hexdigest() in out
    assert out.count("bird number") == 1  # one clipped example, no more of the content


def test_show_an_unknown_name(fake_paper, monkeypatch, capsys):
    code, _, err = run_cli(["datasets", "show", "birds/old"], monkeypatch, capsys)
    assert code == 2 and "did you mean 'birds/old_audubon'" in err and err.count("\n") == 1
