"""The one exception type users see: a single line saying what, where and how to fix it."""

from __future__ import annotations


class WeirdgenError(Exception):
    """A user-facing error whose message is one line: what is wrong, where, and the fix.

    The CLI prints ``str(error)`` on one line and exits with status 2; nothing else is shown.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
