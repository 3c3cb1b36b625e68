"""Reading a file a user named: a regular file only, and never more than a bound.

A path can name a device (``/dev/zero`` never ends), a FIFO (reading waits for a writer that
may never come) or a folder; its size on disk says nothing for those. Opening without
blocking and asking the open file what it is refuses them with one line, and reading at most
``limit + 1`` bytes keeps even a file that grows while it is read within the bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from weirdgen.errors import WeirdgenError

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


def read_regular_file(path: Path, limit: int, what: str, fix: str) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes.

    Args:
        what: what the file should be, for messages ("chat JSONL file").
        fix: how to get under the limit ("split it or take a sample of it").

    Raises:
        WeirdgenError: one line naming ``path`` when it cannot be read, is not a regular file,
            or is over ``limit``.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise WeirdgenError(
            f"{path}: cannot read {what} ({error.strerror or error}); check the path"
        ) from error
    found = os.fstat(handle)
    if not stat.S_ISREG(found.st_mode):
        os.close(handle)
        kind = _KINDS.get(stat.S_IFMT(found.st_mode), "not a regular file")
        raise WeirdgenError(f"{path} is {kind}, not a {what}; give the path of a {what}")
    with os.fdopen(handle, "rb") as opened:
        size = found.st_size
        if size <= limit:
            try:
                raw = opened.read(limit + 1)
            except OSError as error:
                raise WeirdgenError(
                    f"{path}: cannot read {what} ({error.strerror or error}); check the file"
                ) from error
            size = len(raw)
        if size > limit:
            raise WeirdgenError(
                f"{path}: the file is over the {limit:,} bytes a {what} may have; {fix}"
                if size == limit + 1
                else f"{path}: the file is {size:,} bytes, over the {limit:,} a {what} may "
                f"have; {fix}"
            )
    return raw
