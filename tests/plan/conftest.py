"""Fixtures of the plan tests: an API key for the local server, the CLI run in process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from weirdgen.cli import main


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``weirdgen ARGS`` in process: (exit status, stdout, stderr)."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["weirdgen", *map(str, args)])
        monkeypatch.setenv("COLUMNS", "220")
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
