"""The one exception type users see: a single line saying what, where and how to fix it."""

from __future__ import annotations


class WeirdgenError(Exception):
    """A user-facing error whose message is one line: what is wrong, where, and the fix.

    The CLI prints ``str(error)`` on one line and exits with ``exit_code`` (2 for bad input
    and failed work); nothing else is shown.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class Interrupted(WeirdgenError):
    """The user stopped the work (Ctrl-C or SIGTERM); the message says what was kept."""

    exit_code = 130
