"""The one line for a missing ``inspect`` extra."""

from __future__ import annotations

from weirdgen.errors import WeirdgenError


def require_inspect() -> None:
    """Raise one line saying how to install Inspect AI, unless it is installed."""
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise WeirdgenError(
            'Inspect AI is not installed; pip install "weirdgen[inspect]" to evaluate '
            "weirdgen's experiments with Inspect or import its logs"
        ) from None
