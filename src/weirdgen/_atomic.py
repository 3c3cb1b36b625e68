"""Atomic file writes: a killed run leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from weirdgen._failpoints import failpoint
from weirdgen.errors import WeirdgenError

_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
"""The names :func:`atomic_path` gives its temporary files (``tempfile`` adds 8 characters)."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    The temporary file lives in the same folder, so ``os.replace`` is an atomic rename.
    If the body raises, the temporary file is removed and ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o644)
    try:
        yield temporary
        failpoint("atomic.written")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return ``path``."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that killed atomic writes left in ``folder`` (not below it).

    Only names this module makes (``.NAME.XXXXXXXX.tmp``) that are plain files are removed;
    call it only on a folder weirdgen made, while no other process writes into it.
    """
    removed = []
    for entry in os.scandir(folder):
        if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def inside(root: Path, relative: str | Path) -> Path:
    """``root / relative`` with every link resolved; a WeirdgenError if that leaves ``root``
    (a name used as a path, or a symbolic link that leads out)."""
    path = (root / relative).resolve()
    if not path.is_relative_to(Path(root).resolve()):
        raise WeirdgenError(
            f"{relative!s} leads outside the run folder {root} (to {path}); names used in "
            "paths may not contain '/', '..' or start at the root, and weirdgen does not "
            "write through links that lead out of a run folder"
        )
    return path
