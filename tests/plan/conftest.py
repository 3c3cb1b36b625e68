"""Fixtures of the plan tests: an API key for the local server, the CLI run in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import run_cli


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``weirdgen ARGS`` in process: (exit status, stdout, stderr)."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        return run_cli(args, monkeypatch, capsys, columns=220)

    return run
