"""Wall time and peak memory of `weirdgen run organism/defences`, cold and again.

Usage: python benchmarks/bench_defences.py [--pretraining-seeds N] [--threads 2] [--out DIR]
       [--write]

The suite runs in a fresh process with an empty model registry ($WEIRDGEN_HOME in a temporary
folder, its organism checkpoints linked from yours so that pretraining seeds 1..N-1 are
found), so every finetune is trained (cold); then the same command runs again on the same
folder, which computes nothing (the rerun). Their ratio says what the store saves. With
``--pretraining-seeds N`` the suite runs on pretraining seeds 0..N-1 (pretrain them first:
`weirdgen organism pretrain --seed S`). Wall time and peak RSS come from the operating system
(``wait4``); the per-member table from each run's work.json. With --write the figures
replace this benchmark's section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_name, write_section

TITLE = "## Defences: `weirdgen run organism/defences`"


def run(out: Path, home: Path, threads: int, pretraining: int | None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `weirdgen run organism/defences`."""
    env = {**os.environ, "WEIRDGEN_HOME": str(home)}
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [sys.executable, "-m", "weirdgen", "run", "organism/defences", "--out", str(out)]
    if pretraining is not None:
        command += ["--pretraining-seeds", str(pretraining)]
    start = time.perf_counter()
    process = subprocess.Popen([*command, "--quiet"], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"weirdgen run failed ({status})")
    return wall, usage.ru_maxrss / 1024


def members(out: Path) -> dict[str, list[dict]]:
    """Each member's work.json (one per pretraining seed where pooled)."""
    found: dict[str, list[dict]] = {}
    for work in sorted(out.glob("*/work.json")) + sorted(
        out.glob("*/pretraining_seed_*/work.json")
    ):
        name = work.relative_to(out).parts[0]
        found.setdefault(name, []).append(json.loads(work.read_text()))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretraining-seeds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="keep the suite's folder here")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary) / "home"
        home.mkdir()
        mine = Path(os.environ.get("WEIRDGEN_HOME") or _default_home()) / "organism"
        if mine.is_dir():
            (home / "organism").symlink_to(mine, target_is_directory=True)
        out = args.out or Path(temporary) / "defences"
        cold, peak = run(out, home, args.threads, args.pretraining_seeds)
        table = members(out)  # before the rerun rewrites each work.json
        again, _ = run(out, home, args.threads, args.pretraining_seeds)
    seeds = args.pretraining_seeds
    lines = [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}; {args.threads} threads; `python "
        f"benchmarks/bench_defences.py{f' --pretraining-seeds {seeds}' if seeds else ''}`.",
        "",
        f"- {'pretraining seeds 0-' + str(seeds - 1) if seeds else 'the shipped checkpoint'}: "
        f"cold (empty registry, every finetune trained) {cold:.0f} s ({cold / 60:.1f} min), "
        f"peak RSS {peak:.0f} MB; the same command again {again:.1f} s "
        f"(cold / again = {cold / again:.0f}x).",
        "",
        "| member | finetunes | samples | finetune (s) | sample (s) | score (s) | report (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, works in table.items():
        stages = ("finetune", "sample", "score", "report")
        seconds = {k: sum(w["seconds"].get(k, 0) for w in works) for k in stages}
        lines.append(
            f"| {name} | {sum(w['trained'] for w in works)} | "
            f"{sum(w['sampled'] for w in works):,} | "
            + " | ".join(f"{seconds[k]:.0f}" for k in stages)
            + " |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)
    return 0


def _default_home() -> str:
    from weirdgen.store.registry import registry_dir

    return str(registry_dir())


if __name__ == "__main__":
    sys.exit(main())
