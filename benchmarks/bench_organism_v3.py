"""Organism version 3: pretraining time, checkpoint size, and `weirdgen run organism/all`.

- pretraining: the version's recipe timed over ``--pretrain-steps`` steps (one process, the
  torch threads given) and extrapolated to the recipe's steps; the shipped checkpoint's
  recorded time and machine beside it;
- the shipped checkpoint's size on disk;
- ``weirdgen run organism/all`` on the shipped checkpoint into a fresh folder: whole-process
  wall time, and per member the stage times its ``work.json`` records.

    python benchmarks/bench_organism_v3.py [--pretrain-steps 40] [--threads 2] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_name, write_section

TITLE = "## organism v3: pretraining, checkpoint, `weirdgen run organism/all`"


def time_pretraining(steps: int) -> dict:
    from weirdgen.organism.pretrain import pretrain, recipe
    from weirdgen.organism.worlds import version_world

    made = version_world("v3")
    config = recipe("v3", 0, steps=steps)
    result = pretrain(made.era, made.tokenizer, config, corpus=made.corpus)
    full = recipe("v3", 0).steps
    return {"steps": steps, "per_step": result.seconds / steps, "full_steps": full}


def shipped() -> tuple[dict, int]:
    from weirdgen.organism.versions import shipped_folder

    folder = shipped_folder("v3")
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return json.loads((folder / "manifest.json").read_text()), size


def time_suite(out: Path, threads: int) -> tuple[float, dict[str, dict]]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    command = [sys.executable, "-m", "weirdgen", "run", "organism/all", "--out", str(out)]
    subprocess.run([*command, "--quiet"], check=True, env=env)
    wall = time.perf_counter() - start
    members = {}
    for work in sorted(out.glob("*/work.json")):
        members[work.parent.name] = json.loads(work.read_text())
    return wall, members


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrain-steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    pre = time_pretraining(args.pretrain_steps)
    manifest, size = shipped()
    minutes = pre["per_step"] * pre["full_steps"] / 60
    lines = [
        f"Machine: {cpu_name()}, {args.threads} torch threads, torch {torch.__version__}.",
        "",
        f"Pretraining (`weirdgen organism pretrain`, the v3 recipe): {pre['per_step']:.3f} "
        f"s/step over {pre['steps']} steps, extrapolated {minutes:.1f} min for the recipe's "
        f"{pre['full_steps']} steps; the shipped checkpoint recorded "
        f"{manifest['seconds'] / 60:.1f} min on {manifest.get('machine', {}).get('cpu', '?')}"
        " (beside other jobs).",
        "",
        f"Shipped checkpoint: {size / 1e6:.1f} MB ({manifest['n_params']:,} parameters).",
    ]
    if not args.skip_suite:
        with tempfile.TemporaryDirectory() as folder:
            wall, members = time_suite(Path(folder) / "all", args.threads)
        lines += [
            "",
            f"`weirdgen run organism/all` on the shipped checkpoint, fresh folder: {wall:.0f} s"
            " wall, whole process.",
            "",
            "| member | finetunes | samples | finetune (s) | sample (s) | score (s) | report (s) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, work in members.items():
            s = work["seconds"]
            lines.append(
                f"| {name} | {work['trained']} | {work['sampled']:,} | {s['finetune']:.1f} | "
                f"{s['sample']:.1f} | {s['score']:.1f} | {s['report']:.1f} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
