"""The paper's files at the pinned commit: found in a local clone or downloaded, then verified.

The repository of *Weird Generalization and Inductive Backdoors* has no license, so weirdgen
ships none of it: :func:`paper_file` reads a file from a folder laid out like the repository
(``--data-dir``, or ``$WEIRDGEN_PAPER_DIR``), or downloads it once into the user cache, and
checks it against the sha256 (or git blob id) in the manifest before anything reads it.

Environment:
    WEIRDGEN_PAPER_DIR: a local clone (or any folder with the repository's layout) to read
        from instead of downloading.
    WEIRDGEN_PAPER_URL: the address the repository paths are appended to (default
        ``https://raw.githubusercontent.com/<repo>/<commit>``), e.g. a local mirror.
    WEIRDGEN_CACHE: the cache folder (default ``$WEIRDGEN_HOME/cache`` where WEIRDGEN_HOME is
        set, else the platform's user cache folder for weirdgen); files go under
        ``paper/<commit>/<path>``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import platformdirs

from weirdgen._atomic import atomic_path
from weirdgen.errors import WeirdgenError
from weirdgen.paper.counts import JsonlCounts, count_jsonl
from weirdgen.paper.manifest import PaperFile, load_manifest

PAPER_REPO = "JCocola/weird-generalization-and-inductive-backdoors"
PAPER_COMMIT = "c901790362a63d9f23e0048f07df0aaab69479b5"
DATA_DIR_VAR = "WEIRDGEN_PAPER_DIR"
URL_VAR = "WEIRDGEN_PAPER_URL"
CACHE_VAR = "WEIRDGEN_CACHE"
TIMEOUT_S = 60
"""Seconds a download may wait for the server before it fails."""
MAX_UNKNOWN_SIZE = 1 << 30
"""Most bytes read for a file whose size the manifest does not record."""
_CHUNK = 1 << 16

log = logging.getLogger(__name__)


class Check(NamedTuple):
    """What :func:`verify` found for one file."""

    file: PaperFile
    local: Path
    """Where the file is looked for: in the data folder, or in the cache."""
    status: str
    """``ok``, ``missing`` or ``mismatch``."""
    message: str
    """One line: where it is, and for a mismatch, the hashes and what to do."""


class PaperRecord(NamedTuple):
    """A file's manifest entry, where it is, and for JSONL its examples and duplicates."""

    file: PaperFile
    local: Path
    counts: JsonlCounts | None


def names() -> dict[str, str]:
    """The short names of the paper's files, each with its path in the repository."""
    return dict(load_manifest().names)


def files() -> list[PaperFile]:
    """Every file of the manifest, in path order."""
    return sorted(load_manifest().files.values(), key=lambda f: f.path)


def data_dir_from_env() -> Path | None:
    """The folder ``$WEIRDGEN_PAPER_DIR`` names (``--data-dir`` sets it), or None."""
    value = os.environ.get(DATA_DIR_VAR, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads go: ``<cache>/paper/<commit>``."""
    root = os.environ.get(CACHE_VAR, "").strip()
    home = os.environ.get("WEIRDGEN_HOME", "").strip()
    if root:
        base = Path(root).expanduser()
    elif home:
        base = Path(home).expanduser() / "cache"
    else:
        base = platformdirs.user_cache_path("weirdgen")
    return base / "paper" / PAPER_COMMIT


def local_path(name: str, data_dir: Path | None = None) -> Path:
    """Where a file is read from: the data folder if one is given (or set), else the cache."""
    return _locate(name, data_dir)[2]


def _locate(name: str, data_dir: Path | None) -> tuple[PaperFile, Path | None, Path]:
    """The file's manifest entry, the data folder in use (None: the cache), its local path."""
    file = load_manifest().lookup(name)
    folder = data_dir if data_dir is not None else data_dir_from_env()
    return file, folder, (folder if folder is not None else cache_dir()) / file.path


def paper_file(name: str, data_dir: Path | None = None) -> Path:
    """The verified local path of a paper file, by short name or repository path.

    Read from ``data_dir`` (default ``$WEIRDGEN_PAPER_DIR``) where one is given; else from the
    cache, downloading it there first if it is not there yet. Only this file is fetched.

    Raises:
        WeirdgenError: an unknown name; a file missing from ``data_dir``; a copy whose hash
            is not the manifest's (with both hashes and what to do); a failed download.
    """
    file, folder, local = _locate(name, data_dir)
    if folder is not None and not local.is_file():
        raise WeirdgenError(
            f"{local}: not found; the data folder {folder} must be laid out like "
            f"{PAPER_REPO} at commit {PAPER_COMMIT} (git clone, then git checkout "
            "that commit), or leave out --data-dir / WEIRDGEN_PAPER_DIR to download the file"
        )
    if not local.is_file():
        _download(file, local)
        return local
    problem = _mismatch(file, local)
    if problem:
        raise WeirdgenError(f"{local}: {problem}; {_fix(folder, local)}")
    return local


def verify(name: str, data_dir: Path | None = None) -> Check:
    """Check the local copy of a file (in ``data_dir`` or the cache) without downloading."""
    file, folder, local = _locate(name, data_dir)
    if not local.is_file():
        return Check(file, local, "missing", f"{local}: not present")
    problem = _mismatch(file, local)
    if problem:
        return Check(file, local, "mismatch", f"{local}: {problem}; {_fix(folder, local)}")
    return Check(file, local, "ok", f"{local}: {_expected(file)[0]} matches")


def describe(name: str, data_dir: Path | None = None) -> PaperRecord:
    """A file's record: fetched and verified, with counts (examples, distinct examples,
    duplicates, shape) where it is JSONL."""
    file = load_manifest().lookup(name)
    local = paper_file(name, data_dir)
    return PaperRecord(file, local, count_jsonl(local) if file.kind == "jsonl" else None)


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob id) of a file, read once."""
    size = path.stat().st_size
    sha256, blob = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def _expected(file: PaperFile) -> tuple[str, str, int]:
    """(label, expected hash, index into file_digests) for the strongest hash known."""
    if file.sha256 is not None:
        return "sha256", file.sha256, 0
    return "git blob id", file.blob, 1


def _mismatch(file: PaperFile, path: Path) -> str | None:
    """Why ``path`` is not the manifest's file (both hashes), or None."""
    label, expected, index = _expected(file)
    actual = file_digests(path)[index]
    if actual == expected:
        return None
    return f"its {label} is {actual}, but {file.path} at commit {PAPER_COMMIT[:7]} has {expected}"


def _fix(folder: Path | None, local: Path) -> str:
    if folder is None:
        return f"delete {local} to download it again"
    commit = PAPER_COMMIT
    return f"check out commit {commit} in the clone (git -C {folder} checkout {commit[:7]})"


def _url(file: PaperFile) -> str:
    base = os.environ.get(URL_VAR, "").strip().rstrip("/")
    base = base or f"https://raw.githubusercontent.com/{PAPER_REPO}/{PAPER_COMMIT}"
    return f"{base}/{urllib.parse.quote(file.path)}"


def _download(file: PaperFile, local: Path) -> None:
    """Download ``file`` to ``local`` atomically; a copy whose hash differs is not kept."""
    url = _url(file)
    limit = file.size if file.size is not None else MAX_UNKNOWN_SIZE
    log.info("downloading %s to %s", url, local)
    request = urllib.request.Request(url, headers={"User-Agent": "weirdgen"})
    with atomic_path(local) as temporary:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                read = _copy(response, temporary, limit + 1)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            raise WeirdgenError(
                f"cannot download {url} ({_reason(error)}); check the network, or pass "
                f"--data-dir with a local clone of github.com/{PAPER_REPO} at commit "
                f"{PAPER_COMMIT}"
            ) from None
        problem = (
            f"it is over {limit:,} bytes, the size of {file.path}"
            if read > limit
            else _mismatch(file, temporary)
        )
        if problem:
            raise WeirdgenError(
                f"downloaded {url}: {problem}; nothing was kept; check {URL_VAR}, or pass "
                f"--data-dir with a local clone at commit {PAPER_COMMIT}"
            )


def _copy(response, path: Path, limit: int) -> int:
    """Copy at most ``limit`` bytes of ``response`` into ``path``; the bytes copied."""
    read = 0
    with path.open("wb") as out:
        while read < limit and (chunk := response.read(min(_CHUNK, limit - read))):
            out.write(chunk)
            read += len(chunk)
    return read


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT_S} s"
    return str(error) or type(error).__name__
