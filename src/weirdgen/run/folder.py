"""A run folder, opened for one run at a time: checked, locked, cleaned, and kept closed.

Everything a run writes goes under its folder; :meth:`RunFolder.inside` refuses a path that
would leave it (a name used as a path is the classic way out). A second run into the same
folder refuses with the first one's pid instead of redoing its work, and temporary files
that a killed atomic write left behind are removed before the run starts.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from weirdgen._atomic import remove_temporaries
from weirdgen.errors import WeirdgenError

LOCK = ".weirdgen.lock"


class RunFolder:
    """An open run folder; use it as a context manager, or call :meth:`close`.

    Args:
        path: the folder (created with its parents if missing).
        flag: how the user named it, for error messages (``--out`` on the command line).
    """

    def __init__(self, path: Path, flag: str = "--out") -> None:
        self.path = Path(path).absolute()
        _check_folder(self.path, flag)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WeirdgenError(
                f"cannot create the run folder {self.path} ({_reason(error)}); "
                f"give {flag} a folder you can write"
            ) from error
        self._lock = _lock(self.path, flag)
        self.removed = remove_temporaries(self.path)

    def inside(self, relative: str | Path) -> Path:
        """``relative`` under the folder; a WeirdgenError if it would lead out of it."""
        path = (self.path / relative).resolve()
        if not path.is_relative_to(self.path.resolve()):
            raise WeirdgenError(
                f"{relative!s} leads outside the run folder {self.path}; "
                "names used in paths may not contain '/', '..' or start at the root"
            )
        return path

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_folder(path: Path, flag: str) -> None:
    """One line if ``path`` is a file, or lies under a file, instead of a later traceback."""
    if path.exists() and not path.is_dir():
        raise WeirdgenError(f"{flag} {path} is a file, not a folder; give a folder for the run")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WeirdgenError(
                    f"{flag} {path}: {parent} is a file, not a folder; give a folder for the run"
                )
            break


def _lock(path: Path, flag: str) -> int:
    """Hold an exclusive lock on the folder for this process's life, or say who holds it.

    The lock is the operating system's (flock), so a killed run leaves nothing to clean.
    """
    try:
        handle = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise WeirdgenError(
            f"cannot write in the run folder {path} ({_reason(error)}); "
            f"make it writable or give {flag} another folder"
        ) from error
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
