"""Digests of a finetune's files, recorded at training time and checked before each use."""

from __future__ import annotations

import hashlib
from pathlib import Path


def files_digest(path: str | Path | None) -> str | None:
    """sha256 over a weights file, or over every file in an adapter folder (names included).

    None for a model without local files (a base model, a finetune served by a provider) and
    for a path that does not exist.
    """
    if path is None:
        return None
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" if file != path else b"")
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
