"""Without the ``inspect`` extra, weirdgen and its CLI work, and ``weirdgen import`` says in
one line how to install it."""

from __future__ import annotations

import sys

from cli_runner import run_cli


def test_import_without_inspect_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "inspect_ai", None)  # import inspect_ai now fails
    log = tmp_path / "a.eval"
    log.write_text("")
    code, _, err = run_cli(["import", log, "--into", tmp_path / "run"], monkeypatch, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        'error: Inspect AI is not installed; pip install "weirdgen[inspect]" to evaluate '
        "weirdgen's experiments with Inspect or import its logs"
    ]
    assert not (tmp_path / "run").exists()
    code, out, _ = run_cli(["list"], monkeypatch, capsys)
    assert code == 0 and "birds" in out
