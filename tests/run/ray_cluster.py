"""A real local Ray cluster for the executor tests: a head node started with `ray start`, in
the test's temporary folder, stopped afterwards and checked to leave no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest


class Cluster(NamedTuple):
    address: str
    temp: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(temp: Path) -> list[int]:
    """Processes whose command line names this cluster's Ray folder (they are its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(temp) in line:
                found.append(int(entry.name))
    return found


@contextmanager
def ray_cluster(temp: Path, cpus: int = 3, unset: Sequence[str] = ()) -> Iterator[Cluster]:
    """A head node with ``cpus`` CPUs and no GPU whose Ray folder is ``temp``, for the
    ``with`` block (with ``RAY_AUTH_MODE=token`` set, as a driver joining it needs).

    Args:
        unset: environment variables the cluster's processes (its workers) must not have.
    """
    port = _free_port()
    log = temp / "ray-start.log"
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["RAY_AUTH_MODE"] = "token"
    command = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={cpus}",
        "--num-gpus=0",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp}",
    ]
    with log.open("w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None, f"ray start failed: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "ray start took over 3 minutes"
            time.sleep(0.5)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_AUTH_MODE", "token")
            yield Cluster(f"127.0.0.1:{port}", temp)
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        head.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _ours(temp) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _ours(temp)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"Ray processes left behind: {left}"
