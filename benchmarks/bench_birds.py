"""Time `weirdgen run birds` end to end and by stage, with its peak memory.

Usage: python benchmarks/bench_birds.py [--repeats 3] [--pretrain-steps 60] [--write]

Each repeat runs the CLI in a fresh process into an empty folder (a cold run: everything is
computed), then once more into the same folder (a warm rerun: nothing is). Stage times come
from the run's own accounting; wall time and peak RSS from the operating system. Pretraining
is timed over a few steps and extrapolated to the default step count, and the shipped
checkpoint's recorded pretraining time is shown beside it. With --write the figures replace
the birds section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_name, write_section


def machine() -> str:
    import torch

    return (
        f"{cpu_name()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def run_cli(out: Path) -> dict:
    """One `weirdgen run birds` in a child process: wall seconds, peak RSS, stage seconds.

    The model registry lives beside ``out``, so a cold run trains (it does not reuse the
    finetunes of your own runs) and its warm rerun finds them.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "run", "birds", "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "WEIRDGEN_HOME": str(out.parent / "home")},
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"weirdgen run birds failed with status {status}")
    stages = json.loads((out / "work.json").read_text())["seconds"]
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "stages": stages}


def time_pretrain(steps: int) -> dict:
    from weirdgen.organism import PretrainConfig, Tokenizer, load_world, pretrain
    from weirdgen.organism.checkpoint import default_checkpoint

    world = load_world()
    config = PretrainConfig(steps=steps)
    result = pretrain(world, Tokenizer.for_world(world), config)
    full = PretrainConfig().steps
    shipped = json.loads((default_checkpoint() / "manifest.json").read_text())
    return {
        "steps": steps,
        "seconds_per_step": result.seconds / steps,
        "extrapolated_full": result.seconds / steps * full,
        "shipped_recorded": shipped.get("seconds"),
        "full_steps": full,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(run_cli(Path(tmp) / "run"))
            warm.append(run_cli(Path(tmp) / "run"))
    pre = time_pretrain(args.pretrain_steps)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def med_stage(rows: list[dict], stage: str) -> float:
        return statistics.median(r["stages"].get(stage, 0.0) for r in rows)

    lines = [
        f"Machine: {machine()}.",
        f"Median of {args.repeats} runs of `weirdgen run birds` (3 conditions x 5 seeds, "
        "12,600 samples), each in a fresh process.",
        "",
        "| measure | cold run | warm rerun |",
        "|---|---:|---:|",
        f"| wall, whole process (s) | {med(cold, 'wall'):.1f} | {med(warm, 'wall'):.1f} |",
        f"| peak RSS (MB) | {med(cold, 'peak_mb'):.0f} | {med(warm, 'peak_mb'):.0f} |",
    ]
    for stage in ("finetune", "sample", "score", "report"):
        lines.append(
            f"| {stage} (s) | {med_stage(cold, stage):.2f} | {med_stage(warm, stage):.2f} |"
        )
    lines += [
        "",
        f"Pretraining: {pre['seconds_per_step']:.3f} s/step over {pre['steps']} steps, "
        f"extrapolated {pre['extrapolated_full'] / 60:.1f} min for the default "
        f"{pre['full_steps']} steps; the shipped checkpoint recorded "
        f"{(pre['shipped_recorded'] or float('nan')) / 60:.1f} min when it was made.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("## organism: `weirdgen run birds`", text)


if __name__ == "__main__":
    main()
