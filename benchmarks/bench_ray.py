"""A run with many finetunes, local executor against a 3-worker local Ray cluster, side by side.

Usage: python benchmarks/bench_ray.py [--seeds 6] [--n 20] [--pairs 3] [--write]

The spec is the organism birds experiment with ``--seeds`` finetune seeds (two finetuned
conditions, so 2 x seeds finetunes, plus the base model). One Ray head node with 3 CPUs is
started once (``ray start --head --block``, in a temporary folder) and each pair runs the
CLI in fresh processes into empty folders, with fresh model registries: first
``--executor local``, then ``--executor ray:ADDRESS``. Wall time is the whole process's;
stage times come from each run's ``work.json``. The cluster's start is timed once, apart.
With --write the figures replace the Ray section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import cpu_name, write_section

TITLE = "## Executors: local against a 3-worker local Ray cluster"


def write_spec(folder: Path, seeds: int, n: int) -> Path:
    from weirdgen.spec import builtin_spec_dir

    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = seeds
    spec["evaluation"]["n"] = n
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def start_cluster(folder: Path) -> tuple[subprocess.Popen, str, float]:
    """A head node with 3 CPUs: (its process, address, seconds until it was up)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder.mkdir()
    log = folder / "ray-start.log"
    start = time.perf_counter()
    with log.open("w") as out:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block"]
            + [f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=3", "--num-gpus=0"]
            + ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None:
            raise SystemExit(f"ray start failed: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return head, f"127.0.0.1:{port}", time.perf_counter() - start


def run_cli(spec: Path, out: Path, executor: str) -> tuple[float, dict]:
    """``weirdgen run SPEC --executor EXECUTOR`` in a fresh process with its own model
    registry: its wall time, and its ``work.json``."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "run", str(spec), "--out", str(out), "--quiet"]
        + ["--executor", executor],
        capture_output=True,
        text=True,
        env={**os.environ, "WEIRDGEN_HOME": str(out.parent / f"{out.name}-home")},
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{executor} run failed: {done.stderr[-2000:]}")
    return wall, json.loads((out / "work.json").read_text())


def run(spec: Path, out: Path, executor: str) -> dict:
    wall, work = run_cli(spec, out, executor)
    return {"wall": wall, "stages": work["seconds"], "trained": work["trained"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wg-ray-bench-") as tmp:
        folder = Path(tmp)
        spec = write_spec(folder, args.seeds, args.n)
        head, address, startup = start_cluster(folder / "ray")
        results: dict[str, list[dict]] = {"local": [], "ray": []}
        try:
            for pair in range(args.pairs):
                for name, executor in (("local", "local"), ("ray", f"ray:{address}")):
                    result = run(spec, folder / f"{name}{pair}", executor)
                    results[name].append(result)
                    print(name, pair, f"{result['wall']:.1f}s", result["stages"], flush=True)
        finally:
            head.terminate()
            head.wait(timeout=60)
    text = report(args, results, startup, load_before, os.getloadavg()[0])
    print(text)
    if args.write:
        write_section(TITLE, text)


def report(args, results: dict[str, list[dict]], startup: float, before: float, after: float):
    def median(name: str, stage: str | None = None) -> float:
        values = [
            r["wall"] if stage is None else r["stages"].get(stage, 0.0) for r in results[name]
        ]
        return statistics.median(values)

    pairs = zip(results["local"], results["ray"], strict=True)
    ratios = [ray["wall"] / local["wall"] for local, ray in pairs]
    rows = [
        f"| {stage or 'whole run (wall)'} | {median('local', stage):.1f} | "
        f"{median('ray', stage):.1f} | {median('ray', stage) / median('local', stage):.2f} |"
        for stage in (None, "finetune", "sample", "score", "report")
    ]
    finetunes = results["local"][0]["trained"]
    return "\n".join(
        [
            f"Machine: {cpu_name()}, {os.cpu_count()} cores, shared with another job (load "
            f"average {before:.1f} before, {after:.1f} after); Ray head node with 3 CPUs on the "
            f"same 2 cores. `python benchmarks/bench_ray.py --seeds {args.seeds} --n {args.n} "
            f"--pairs {args.pairs}`: the organism birds spec with {args.seeds} seeds "
            f"({finetunes} finetunes, 3 conditions x {args.seeds} seeds sampled at n={args.n}), "
            "each pair run local then on the cluster, in fresh processes and registries. "
            "Medians over the pairs, seconds:",
            "",
            "| | local | ray (3 workers) | ray / local |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Wall-time ratio ray/local pair by pair: {', '.join(f'{x:.2f}' for x in ratios)}. "
            f"Starting the head node once took {startup:.0f} s, not counted above. On 2 shared "
            "cores three workers cannot run three finetunes at once, and each worker loads the "
            "organism and imports torch before its first unit, so Ray is expected to be no "
            "faster here; the speed-up it is for needs a cluster with a CPU or GPU per worker.",
        ]
    )


if __name__ == "__main__":
    main()
