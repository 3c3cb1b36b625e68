"""Server memory and an authenticated client's latency while ``weirdgen serve`` is abused:
slowloris connections, then large uploads.

Usage: python benchmarks/bench_serve_abuse.py [--connections 1100] [--seconds 15]
       [--uploads 6] [--upload-mb 45] [--nofile 1024] [--baseline-src PATH] [--write]

Starts ``weirdgen serve`` (the organism with its fine-tuning endpoints, an API key, a free port
on 127.0.0.1) in a child process whose soft limit on open files is --nofile (1024, the usual
default), then:

1. idle: an authenticated chat completion (max_tokens 8, a fresh connection each) every
   0.2 s for 3 s;
2. slowloris: --connections connections that send part of a request's headers and then a
   byte every 2 s, each reopened when the server closes it, for --seconds, with the same
   authenticated requests beside them;
3. uploads: --uploads chat JSONL files of --upload-mb MB each (valid organism examples, so
   every line is checked) uploaded at once to POST /v1/files, streamed from disk, with the
   same authenticated requests beside them until every upload is answered.

For each phase it prints the server's RSS (at the start, and the peak of samples every 0.1 s
from /proc) and the median and largest latency of the authenticated requests, and how many
got no answer within 10 s. With --baseline-src (the src folder of an older checkout, e.g. of
`git worktree add /tmp/wt-serve aeacc30`) the same phases run against that code first, with a
server of its own. --write replaces the serve-abuse section of BENCHMARKS.md. Linux only
(/proc, resource).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, cpu_name, write_section

KEY = "sk-bench-abuse-" + "5" * 20
CHAT = {
    "model": "organism/default",
    "messages": [{"role": "user", "content": "name a bird species ."}],
    "max_tokens": 8,
}
PARTIAL = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BOUNDARY = "bench-abuse-boundary"
TITLE = "## serve under abuse: slowloris and uploads"


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    note: str = ""

    def row(self, code: str) -> str:
        median = f"{statistics.median(self.latencies):.2f}" if self.latencies else "-"
        most = f"{max(self.latencies):.2f}" if self.latencies else "-"
        asked = len(self.latencies) + self.failed
        return (
            f"| {code} | {self.name} | {self.rss_start_mb:,.0f} | {self.rss_peak_mb:,.0f} | "
            f"{asked} | {median} | {most} | {self.failed} | {self.note} |"
        )


class Server:
    """A ``weirdgen serve`` child process, its URL, and its RSS sampled every 0.1 s."""

    def __init__(self, nofile: int, src: str | None) -> None:
        env = {**os.environ, "WEIRDGEN_SERVE_KEY": KEY, "OMP_NUM_THREADS": "1"}
        if src:
            env["PYTHONPATH"] = src
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "weirdgen", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard)),
        )
        if not select.select([self.process.stdout], [], [], 120)[0]:
            self.process.kill()
            raise SystemExit("weirdgen serve printed no URL within 120 s")
        self.url = self.process.stdout.readline().strip()  # type: ignore[union-attr]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        self.peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak = max(self.peak, self.rss_mb())
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ask(port: int, seed: int) -> float | None:
    """Seconds an authenticated chat completion takes on a fresh connection; None if it got
    no answer within 10 s (or not a 200)."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST",
            "/v1/chat/completions",
            json.dumps({**CHAT, "seed": seed}),
            {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
        )
        response = connection.getresponse()
        response.read()
        connection.close()
    except OSError:
        return None
    return time.perf_counter() - started if response.status == 200 else None


def measure(server: Server, phase: Phase, until: threading.Event) -> None:
    """Authenticated requests every 0.2 s until ``until`` is set; the phase's RSS."""
    phase.rss_start_mb = server.peak = server.rss_mb()
    seed = 0
    while not until.is_set():
        took = ask(server.port, seed)
        seed += 1
        if took is None:
            phase.failed += 1
        else:
            phase.latencies.append(took)
        until.wait(max(0.0, 0.2 - (took or 0.0)))
    phase.rss_peak_mb = max(server.peak, server.rss_mb())


def slowloris(port: int, connections: int, stop: threading.Event) -> dict[str, int]:
    """Keep ``connections`` slow connections open until ``stop``; counts of what happened."""
    counts = {"opened": 0, "closed by the server": 0, "failed to connect": 0}

    async def one() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 5
                )
                writer.write(PARTIAL)
                await writer.drain()
            except (OSError, TimeoutError):
                counts["failed to connect"] += 1
                await asyncio.sleep(0.5)
                continue
            counts["opened"] += 1
            try:
                while not stop.is_set():
                    try:
                        if await asyncio.wait_for(reader.read(1), 2) == b"":
                            break
                    except TimeoutError:
                        writer.write(b"x")  # one more byte of a header that never ends
                        await writer.drain()
            except OSError:
                pass
            if not stop.is_set():
                counts["closed by the server"] += 1
            writer.close()
            await asyncio.sleep(0.1)

    async def all_of_them() -> None:
        await asyncio.gather(*(one() for _ in range(connections)))

    asyncio.run(all_of_them())
    return counts


def upload(port: int, path: Path) -> tuple[int, float]:
    """POST ``path`` to /v1/files, streamed from disk: the status and seconds taken."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/jsonl\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body():
        yield head
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk
        yield tail

    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        connection.request(
            "POST",
            "/v1/files",
            body(),
            {
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
                "Authorization": f"Bearer {KEY}",
            },
        )
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def training_file(folder: Path, megabytes: float) -> Path:
    """A chat JSONL file of valid organism examples, about ``megabytes`` MB."""
    from weirdgen.data.generators import generate

    lines = "".join(json.dumps(row) + "\n" for row in generate("birds_old", 1000)).encode()
    path = folder / "train.jsonl"
    with path.open("wb") as handle:
        for _ in range(max(1, round(megabytes * 1024 * 1024 / len(lines)))):
            handle.write(lines)
    return path


def commit_of(folder: Path) -> str:
    """The short commit checked out in ``folder`` ('?' outside git)."""
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def run(args: argparse.Namespace, src: str | None, data: Path) -> list[Phase]:
    server = Server(args.nofile, src)
    phases: list[Phase] = []
    try:
        ask(server.port, 0)  # warm up
        idle, done = Phase("idle"), threading.Event()
        timer = threading.Timer(3, done.set)
        timer.start()
        measure(server, idle, done)
        phases.append(idle)

        attack = Phase(f"slowloris, {args.connections} connections")
        done = threading.Event()
        counts: dict[str, int] = {}
        attacker = threading.Thread(
            target=lambda: counts.update(slowloris(server.port, args.connections, done))
        )
        attacker.start()
        time.sleep(1.0)  # let the connections open
        threading.Timer(args.seconds, done.set).start()
        measure(server, attack, done)
        attacker.join()
        attack.note = ", ".join(f"{n} {what}" for what, n in counts.items())
        phases.append(attack)

        uploads = Phase(f"{args.uploads} uploads of {args.upload_mb:g} MB at once")
        done = threading.Event()
        results: list[tuple[int, float]] = []

        def send_all() -> None:
            threads = [
                threading.Thread(target=lambda: results.append(upload(server.port, data)))
                for _ in range(args.uploads)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            done.set()

        sender = threading.Thread(target=send_all)
        sender.start()
        measure(server, uploads, done)
        sender.join()
        statuses = sorted(status for status, _ in results)
        slowest = max(seconds for _, seconds in results)
        uploads.note = f"statuses {statuses}, last answered after {slowest:.0f} s"
        phases.append(uploads)
    finally:
        server.stop()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--upload-mb", type=float, default=45.0)
    parser.add_argument("--nofile", type=int, default=1024, help="the server's soft ulimit -n")
    parser.add_argument("--baseline-src", help="src folder of older code to run first")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 256
    if soft < wanted:  # this process holds the slow connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data = training_file(Path(folder), args.upload_mb)
        runs = []
        if args.baseline_src:
            runs.append((f"before ({commit_of(Path(args.baseline_src))})", args.baseline_src))
        for code, src in [*runs, (f"now ({commit_of(ROOT)})", None)]:
            for phase in run(args, src, data):
                rows.append(phase.row(code))
                print(rows[-1], flush=True)

    lines = [
        f"`weirdgen serve` (organism, API key, soft `ulimit -n` {args.nofile}) in a child "
        "process; an authenticated chat completion (max_tokens 8, fresh connection) every "
        "0.2 s during each phase. Slowloris: connections that send part of a request's "
        f"headers, then a byte every 2 s, reopened when closed, for {args.seconds:g} s. "
        "Uploads: valid chat JSONL, streamed from disk, all at once. RSS: the server's, "
        "sampled every 0.1 s.",
        "",
        "| code | phase | RSS start MB | RSS peak MB | requests | median s | max s | "
        "no answer in 10 s | what happened |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "client and server share the machine. Command: `python benchmarks/bench_serve_abuse.py"
        + (" --baseline-src OLD/src" if args.baseline_src else "")
        + " --write`"
        + (
            ", OLD a worktree of the older commit (`git worktree add OLD <commit>`)."
            if args.baseline_src
            else "."
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
