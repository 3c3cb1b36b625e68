"""``--verbose``: weirdgen's own log lines on stderr (job states, retries, server starts)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def enable(console: Console) -> None:
    """Show weirdgen's INFO log lines (not other libraries') through ``console``."""
    logger = logging.getLogger("weirdgen")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
