"""Atomic file writes: a killed run leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from weirdgen._failpoints import failpoint


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
    """Delete the temporary files that killed atomic writes left anywhere under ``folder``.

    Only names this module makes (``.NAME.XXXX.tmp``) are removed; call it only while no
    other process writes into ``folder``.
    """
    removed = []
    for temporary in folder.rglob(".*.tmp"):
        if temporary.is_file() and not temporary.is_symlink():
            temporary.unlink(missing_ok=True)
            removed.append(temporary)
    return removed
