"""``weirdgen plan``: what a run would compute and cost, before anything runs."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the command line (filled in by the plan package)."""
