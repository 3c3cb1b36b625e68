"""Child server processes (a ``vllm serve``, or a stand-in): started in their own process
group with output to a log file, watched, and stopped as a whole group, also when the
interpreter exits."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

LOG_TAIL = 20  # log lines quoted in an error

_running: set[subprocess.Popen] = set()  # servers to stop should the interpreter exit


def start(
    argv: Sequence[str], log_prefix: str, log_dir: Path | None
) -> tuple[subprocess.Popen, Path]:
    """Start ``argv`` in a new process group, stdout and stderr to a new log file."""
    handle, name = tempfile.mkstemp(prefix=log_prefix, suffix=".log", dir=log_dir)
    with os.fdopen(handle, "wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    _running.add(process)
    return process, Path(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def served_ids(url: str) -> list[str] | None:
    """The model ids ``GET url/models`` lists, or None while the server does not answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(f"{url}/models", timeout=5) as response:
            return [str(entry["id"]) for entry in json.loads(response.read())["data"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def has_exited(process: subprocess.Popen) -> bool:
    """Whether the process has ended, leaving it unreaped: while its zombie remains, its
    process group id cannot be taken by another process, so the group can still be
    signalled safely."""
    if process.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS
        return process.poll() is not None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever of it still runs after
    ``timeout`` seconds; returns once the whole group is gone (so a new server does not
    meet the old one's workers still holding GPU memory) and the leader is reaped."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_running(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while _group_running(process) and time.monotonic() < deadline:
            time.sleep(0.02)
        process.wait()
    _running.discard(process)


def _group_running(process: subprocess.Popen) -> bool:
    """Whether any process of the server's group still runs (a zombie does not count);
    judged by the leader alone where there is no /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return not has_exited(process)
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
        if int(group) == process.pid and state not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def tail(log: Path) -> str:
    """The log's last lines joined with `` | `` (errors are one line), or ``(empty)``."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(unreadable)"
    kept = [line.strip() for line in lines if line.strip()][-LOG_TAIL:]
    return " | ".join(kept) or "(empty)"


@atexit.register
def _stop_all() -> None:
    for process in list(_running):
        stop(process, 5.0)
