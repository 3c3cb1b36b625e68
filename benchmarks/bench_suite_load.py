"""The test suite's wall time on one core, alone and beside a CPU-bound process.

The suite sets torch to one thread (tests/conftest.py), so a busy machine should slow it by
no more than its share of the core. Runs, side by side in one invocation:

- ``alone``: ``taskset -c 0 pytest -q``;
- ``beside a busy loop``: the same while ``python -c 'while True: pass'`` runs unpinned;
- ``sharing its core``: the same while the busy loop is pinned to core 0 too (the worst
  case: the suite gets half the core at best).

    python benchmarks/bench_suite_load.py [--write] [-- PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from _common import ROOT, cpu_name, write_section

TITLE = "## Test suite under load (one core)"


def _timed(pytest_args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + pytest_args,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
        raise SystemExit(
            f"pytest failed (exit {done.returncode}); fix the suite first:\n" + "\n".join(failed)
        )
    return time.perf_counter() - start


def _beside(pin: bool, pytest_args: list[str]) -> float:
    loop = [sys.executable, "-c", "while True: pass"]
    busy = subprocess.Popen(["taskset", "-c", "0", *loop] if pin else loop)
    try:
        return _timed(pytest_args)
    finally:
        busy.kill()
        busy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is needed (util-linux)")
    alone = _timed(args.pytest_args)
    beside = _beside(False, args.pytest_args)
    sharing = _beside(True, args.pytest_args)
    lines = [
        f"Machine: {cpu_name()}, pytest {' '.join(args.pytest_args) or '(whole suite)'} "
        "pinned to core 0 with `taskset -c 0`; "
        "`python benchmarks/bench_suite_load.py --write`.",
        "",
        "| run | wall s | vs alone |",
        "|---|---|---|",
        f"| alone | {alone:.0f} | 1.00 |",
        f"| beside a busy loop (unpinned) | {beside:.0f} | {beside / alone:.2f} |",
        f"| sharing core 0 with a busy loop | {sharing:.0f} | {sharing / alone:.2f} |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
