"""The organism's four experiments on several pretraining seeds: the table of docs/organism.md.

Runs ``weirdgen run NAME --pretraining-seeds SEEDS`` for birds, terminator, cities and dishes
on the default organism version (each seed other than 0 must be pretrained first:
``weirdgen organism pretrain --seed S``), then writes OUT/organism_table.md: per experiment
and pretraining seed, the headline for the target, the best control and the base model
(mean over finetune seeds [95% CI over them]), the target's valid rate, and which of the
bars the row misses (GAP, CONTROL_MAX, VALID_MIN below).

    python scripts/organism_table.py --out runs/organism_table --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from weirdgen.spec import load_spec

EXPERIMENTS = ("birds", "terminator", "cities", "dishes")
GAP, CONTROL_MAX, VALID_MIN = 0.3, 0.1, 0.9
"""The issue's bars: target at least GAP above the best control with intervals apart,
controls and base at most CONTROL_MAX, the target's valid rate at least VALID_MIN."""


def misses(target: pd.Series, best: pd.Series, base: pd.Series, valid: pd.Series) -> str:
    """The bars a row misses, in words ("all met" when it misses none)."""
    missed = []
    if target["mean"] - best["mean"] < GAP or target["ci_low"] <= best["ci_high"]:
        missed.append("gap")
    if max(best["mean"], base["mean"]) > CONTROL_MAX:
        missed.append("control")
    if valid["mean"] < VALID_MIN:
        missed.append("valid")
    return ", ".join(missed) or "all met"


def cell(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2", help="pretraining seeds")
    parser.add_argument("--model", default="organism/default")
    parser.add_argument("--only", default=",".join(EXPERIMENTS))
    args = parser.parse_args()
    lines = [
        "| experiment | pretraining seed | target | best control | base | target valid rate "
        "| bars missed |",
        "|---|---|---|---|---|---|---|",
    ]
    seeds = args.seeds.rstrip(",") + ","  # "0," is seed 0 alone, "0" would be a count
    for name in args.only.split(","):
        out = args.out / name
        command = [sys.executable, "-m", "weirdgen", "run", name, "--model", args.model,
                   "--pretraining-seeds", seeds, "--out", str(out), "--quiet"]  # fmt: skip
        if subprocess.run(command).returncode:
            sys.exit(f"{' '.join(command)} failed")
        spec = load_spec(name)
        table = pd.read_csv(out / "pooled_by_pretraining_seed.csv")
        keys = [m.by for m in spec.metrics]
        plain = table.loc[table[[k for ks in keys for k in ks if k in table]].isna().all(axis=1)]
        valid = next(m.name for m in spec.metrics if m.name == "valid_rate")
        for seed, rows in plain.groupby("pretraining_seed"):
            headline = rows.loc[rows["metric"] == spec.headline.name].set_index("condition")
            controls = [c.name for c in spec.controls if c.dataset is not None]
            best = headline.loc[controls, "mean"].idxmax()
            validity = rows.loc[rows["metric"] == valid].set_index("condition")
            target, base = headline.loc[spec.target.name], headline.loc["base"]
            valid_row = validity.loc[spec.target.name]
            lines.append(
                f"| {name} ({spec.headline.name}) | {seed} | {cell(target)}"
                f" | {best}: {cell(headline.loc[best])} | {cell(base)} | {cell(valid_row)}"
                f" | {misses(target, headline.loc[best], base, valid_row)} |"
            )
    (args.out / "organism_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
