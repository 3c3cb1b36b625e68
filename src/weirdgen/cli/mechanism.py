"""``weirdgen direction`` and ``weirdgen project``: directions in the residual stream, and how
far a run's models move along them."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
