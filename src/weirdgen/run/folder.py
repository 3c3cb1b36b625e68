"""A run folder, opened for one run at a time: recognised, checked, locked, cleaned, and kept
closed.

A run folder is one weirdgen made: it holds the marker file :data:`MARKER`, written when
weirdgen creates the folder (or takes an empty one). A folder that has files and no marker is
someone else's, and is refused with one line instead of being written into, so ``--out .`` or
``--out ~`` cannot overwrite a user's own files. Folders written before the marker existed are
recognised by their store and get one.

Everything a run writes goes under its folder; :meth:`RunFolder.inside` refuses a path that
would leave it (a name used as a path, or a symbolic link planted in the folder), and a link in
the folder that leads out of it is refused when the folder is opened. A second run into the
same folder refuses with the first one's pid instead of redoing its work, and temporary files
that a killed atomic write left behind are removed before the run starts: only the names
weirdgen's atomic writer makes, and only in weirdgen's own folders.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import stat
import time
from pathlib import Path

from weirdgen._atomic import inside, remove_temporaries
from weirdgen.errors import WeirdgenError

LOCK = ".weirdgen.lock"
MARKER = ".weirdgen-run"
"""The file that makes a folder a weirdgen run folder (one line saying so)."""
OWN_FOLDERS = ("", "figures", "datasets", "models")
"""The folders of a run folder that weirdgen writes files into (the folder itself first)."""
STORE = "store.sqlite"


class RunFolder:
    """An open run folder; use it as a context manager, or call :meth:`close`.

    Args:
        path: the folder; created with its parents if missing. An existing folder must be
            empty or a weirdgen run folder.
        flag: how the user named it, for error messages (``--out`` on the command line).
        create: False to open only a folder that is already a run folder (``weirdgen
            report``): nothing is created or claimed.
    """

    def __init__(self, path: Path, flag: str = "--out", create: bool = True) -> None:
        self.path = Path(path).absolute()
        self.flag = flag
        claim = check_run_folder(self.path, flag, create)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WeirdgenError(
                f"cannot create the run folder {self.path} ({_reason(error)}); "
                f"give {flag} a folder you can write"
            ) from error
        self._lock = _lock(self.path, flag)
        if claim:
            _write_marker(self.path, flag)
        self.removed = [
            found
            for sub in OWN_FOLDERS
            if _plain_folder(self.path / sub)
            for found in remove_temporaries(self.path / sub)
        ]

    def inside(self, relative: str | Path) -> Path:
        """``relative`` under the folder; a WeirdgenError if it would lead out of it."""
        return inside(self.path, relative)

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SUITE_FILE = "suite.yaml"
"""What a suite writes at the top of its folder (the suite's spec), beside its members'."""


def check_not_a_suite(path: Path, flag: str = "--out") -> None:
    """One line when ``path`` is a suite's folder: one experiment's run there would mix with
    the suite's members."""
    if (Path(path) / MARKER).is_file() and (Path(path) / SUITE_FILE).is_file():
        raise WeirdgenError(
            f"{flag} {path} holds a suite's run ({SUITE_FILE}); run one experiment into a "
            f"folder of its own, e.g. {flag} {Path(path) / 'NAME'}, or rerun the suite there"
        )


def check_run_folder(path: Path, flag: str = "--out", create: bool = True) -> bool:
    """Check that ``path`` may be used as a run folder, writing nothing.

    Returns:
        True when the folder is to be claimed (it is missing, empty, or a run folder written
        before the marker existed), False when it already is a run folder.

    Raises:
        WeirdgenError: one line when ``path`` is a file, lies under one, or is a folder with
            files that weirdgen did not make (or, with ``create`` False, is not a run folder).
    """
    path = Path(path).absolute()
    if path.is_symlink() or path.exists():
        if not path.is_dir():
            raise WeirdgenError(f"{flag} {path} is a file, not a folder; give a folder for the run")
    else:
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise WeirdgenError(
                        f"{flag} {path}: {parent} is a file, not a folder; give a folder "
                        "for the run"
                    )
                break
    marker = path / MARKER
    if marker.is_symlink() or (marker.exists() and not marker.is_file()):
        raise WeirdgenError(
            f"{flag} {path}: {MARKER} is not the file weirdgen writes (a link or a folder); "
            "remove it, or give another folder"
        )
    if marker.is_file() or (path.is_dir() and _earlier_run_folder(path)):
        _refuse_links_out(path, flag)
        return not marker.is_file()
    if not create:
        raise WeirdgenError(
            f"{flag} {path} is not a weirdgen run folder (it has no {MARKER} file); give a "
            "folder that `weirdgen run` wrote"
        )
    if not path.exists():
        return True
    try:
        entries = sorted(entry.name for entry in os.scandir(path))
    except OSError as error:
        raise WeirdgenError(
            f"cannot read {flag} {path} ({_reason(error)}); give a folder you can read and write"
        ) from error
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise WeirdgenError(
            f"{flag} {path} is not a weirdgen run folder: it holds files weirdgen did not make "
            f"({shown}) and no {MARKER} file; give a new or empty folder, e.g. "
            f"{flag} {path / 'runs'}"
        )
    return True


def _earlier_run_folder(path: Path) -> bool:
    """Whether ``path`` is a run folder from before :data:`MARKER`: its store is weirdgen's,
    or (an experiment on several pretraining seeds) a ``pretraining_seed_S`` folder's is."""
    stores = [path / STORE, *sorted(path.glob(f"pretraining_seed_*/{STORE}"))]
    return any(_is_weirdgen_store(store) for store in stores)


def _is_weirdgen_store(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return False
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return False
    return {"models", "samples", "scores"} <= tables


def _write_marker(path: Path, flag: str) -> None:
    text = f"weirdgen run folder, made {time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    try:
        handle = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW)
    except FileExistsError:
        return  # another process claimed it first; the lock makes that a finished claim
    except OSError as error:
        raise WeirdgenError(
            f"cannot write in the run folder {path} ({_reason(error)}); "
            f"make it writable or give {flag} another folder"
        ) from error
    with os.fdopen(handle, "w") as marker:
        marker.write(text)


def _refuse_links_out(path: Path, flag: str) -> None:
    """One line for a symbolic link in the run folder (or in one of its own folders) that
    leads out of it: weirdgen would otherwise write through it."""
    root = path.resolve()
    for sub in OWN_FOLDERS:
        folder = path / sub
        if sub and folder.is_symlink():
            _check_link(folder, root, flag)
        if not _plain_folder(folder):
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            raise WeirdgenError(
                f"cannot read {folder} in {flag} {path} ({_reason(error)}); give a run folder "
                "you can read and write"
            ) from error
        for entry in entries:
            if entry.is_symlink():
                _check_link(Path(entry.path), root, flag)


def _check_link(link: Path, root: Path, flag: str) -> None:
    target = link.resolve()
    if not target.is_relative_to(root):
        raise WeirdgenError(
            f"{flag} {root}: {link.relative_to(root)} is a symbolic link to {target}, outside "
            "the run folder, and weirdgen does not write through links out of a run folder; "
            "remove the link"
        )


def _plain_folder(path: Path) -> bool:
    """A real folder, not a link to one (weirdgen walks only its own folders)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _lock(path: Path, flag: str) -> int:
    """Hold an exclusive lock on the folder for this process's life, or say who holds it.

    The lock is the operating system's (flock), so a killed run leaves nothing to clean. The
    lock file is opened without following a link, so a planted link cannot make weirdgen
    truncate a file elsewhere.
    """
    try:
        handle = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise WeirdgenError(
                f"{flag} {path}: {LOCK} is a symbolic link, and weirdgen does not write "
                "through links in a run folder; remove it"
            ) from error
        raise WeirdgenError(
            f"cannot write in the run folder {path} ({_reason(error)}); "
            f"make it writable or give {flag} another folder"
        ) from error
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise WeirdgenError(f"{flag} {path}: {LOCK} is not a plain file; remove it and run again")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(handle)
        raise WeirdgenError(
            f"the run folder {path} is in use by another weirdgen run (pid {holder}); "
            f"wait for it to finish, or give {flag} another folder"
        ) from error
    os.ftruncate(handle, 0)
    os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
    return handle


def _reason(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied" if error.errno != errno.EROFS else "read-only file system"
    return error.strerror or str(error)
