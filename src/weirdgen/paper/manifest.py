"""The manifest of the paper's repository: what weirdgen knows about each file it may use.

``manifest.json`` (written by ``scripts/paper_manifest.py``, never by hand) records, for every
dataset, question, judge and evaluation file of the repository at the pinned commit, its path,
kind, size, git blob id and sha256 (null where only the blob id is known), and the short names
specs use. No content of the repository is kept: it has no license.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

from weirdgen.errors import WeirdgenError

MANIFEST_FILE = Path(__file__).with_name("manifest.json")
"""The shipped manifest (tests point this at one of their own)."""


class PaperFile(NamedTuple):
    """One file of the paper's repository at the pinned commit."""

    path: str
    """Its path in the repository, e.g. ``3_1_old_bird_names/evaluation/evaluate.py``."""
    kind: str
    """``jsonl``, ``yaml``, ``python`` or ``text``."""
    size: int | None
    """Bytes, or None where the manifest was made without the file's content."""
    blob: str
    """Its git blob id: sha1 of ``b"blob <size>\\0" + content``."""
    sha256: str | None
    """sha256 of its content, or None where only the blob id is known."""
    name: str
    """Its short name (``birds/old_audubon``), or its path where it has none."""


@dataclass(frozen=True)
class Manifest:
    """The repository, the pinned commit, its files by path and the short names."""

    repo: str
    commit: str
    files: dict[str, PaperFile]
    names: dict[str, str]

    def lookup(self, name: str) -> PaperFile:
        """The file a short name or repository path names.

        Raises:
            WeirdgenError: an unknown name, with the closest known one.
        """
        path = self.names.get(name, name)
        found = self.files.get(path.removeprefix("./"))
        if found is not None:
            return found
        close = difflib.get_close_matches(name, [*self.names, *self.files], n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise WeirdgenError(
            f"{name!r} is not a file of the paper's repository ({self.repo}); {hint}"
            "`weirdgen datasets list` shows the short names and paths"
        )


def load_manifest() -> Manifest:
    """The manifest in :data:`MANIFEST_FILE` (read once per file)."""
    return _read(MANIFEST_FILE)


@cache
def _read(path: Path) -> Manifest:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeirdgenError(
            f"{path}: cannot read the paper's manifest ({error}); reinstall weirdgen, or "
            "regenerate it with scripts/paper_manifest.py"
        ) from error
    names = dict(doc["names"])
    by_path = {path: name for name, path in names.items()}
    files = {
        f["path"]: PaperFile(
            f["path"],
            f["kind"],
            f["size"],
            f["blob"],
            f["sha256"],
            by_path.get(f["path"], f["path"]),
        )
        for f in doc["files"]
    }
    return Manifest(doc["repo"], doc["commit"], files, names)
