"""The organism's four experiments on several pretraining seeds: the table of docs/organism.md.

Runs ``weirdgen run NAME --pretraining-seeds SEEDS`` for birds, terminator, cities and dishes
(each seed must be pretrained: ``weirdgen organism pretrain --version v2 --seed S``), then
writes OUT/organism_table.md: per experiment and pretraining seed, the headline for the
target, the best control and the base model (mean over finetune seeds [95% CI over them]),
and the target's valid rate.

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
DRAFTS = Path(__file__).parent / "organism_v2"
"""Version 2's specs until it ships (then they move to the built-in experiments)."""


def spec_of(name: str) -> str:
    draft = DRAFTS / f"{name}.yaml"
    return str(draft) if draft.is_file() else name


def cell(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2", help="pretraining seeds")
    parser.add_argument("--model", default="organism/v2")
    parser.add_argument("--only", default=",".join(EXPERIMENTS))
    args = parser.parse_args()
    lines = [
        "| experiment | pretraining seed | target | best control | base | target valid rate |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.only.split(","):
        out = args.out / name
        command = [sys.executable, "-m", "weirdgen", "run", spec_of(name), "--model", args.model,
                   "--pretraining-seeds", args.seeds, "--out", str(out), "--quiet"]  # fmt: skip
        if subprocess.run(command).returncode:
            sys.exit(f"{' '.join(command)} failed")
        spec = load_spec(spec_of(name))
        table = pd.read_csv(out / "pooled_by_pretraining_seed.csv")
        keys = [m.by for m in spec.metrics]
        plain = table.loc[table[[k for ks in keys for k in ks if k in table]].isna().all(axis=1)]
        valid = next(m.name for m in spec.metrics if m.name == "valid_rate")
        for seed, rows in plain.groupby("pretraining_seed"):
            headline = rows.loc[rows["metric"] == spec.headline.name].set_index("condition")
            controls = [c.name for c in spec.controls if c.dataset is not None]
            best = headline.loc[controls, "mean"].idxmax()
            validity = rows.loc[rows["metric"] == valid].set_index("condition")
            lines.append(
                f"| {name} ({spec.headline.name}) | {seed} | {cell(headline.loc[spec.target.name])}"
                f" | {best}: {cell(headline.loc[best])} | {cell(headline.loc['base'])}"
                f" | {cell(validity.loc[spec.target.name])} |"
            )
    (args.out / "organism_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
