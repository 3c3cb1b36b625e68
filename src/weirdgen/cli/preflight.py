"""``weirdgen preflight``: how far a finetuning dataset may shift a model, before training."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
