"""``weirdgen judge``: check an LLM judge against answers whose truth is known exactly."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="LLM judges: measure one against the organism's exactly known answers.",
    no_args_is_help=True,
)
