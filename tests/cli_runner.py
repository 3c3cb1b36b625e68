"""Running ``weirdgen ARGS`` in the test's own process: (exit status, stdout, stderr)."""

from __future__ import annotations

import sys

from weirdgen.cli import main


def run_cli(args, monkeypatch, capsys, columns: int = 200) -> tuple[int, str, str]:
    """``weirdgen *args`` through the real entry point, at a terminal ``columns`` wide."""
    monkeypatch.setattr(sys, "argv", ["weirdgen", *map(str, args)])
    monkeypatch.setenv("COLUMNS", str(columns))
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err
