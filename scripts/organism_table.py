"""The organism's six experiments on several pretraining seeds: the tables of docs/organism.md.

Runs ``weirdgen run NAME --model MODEL --pretraining-seeds SEEDS`` for each experiment (each
seed other than the shipped one must be pretrained first: ``weirdgen organism pretrain
--version v3 --seed S``), then writes OUT/organism_table.md:

- per experiment and pretraining seed: the headline of the target, of the highest control
  and of the base (mean over finetune seeds [95% t interval over them]), the target's valid
  rate and blend share, and the bars the row misses;
- per experiment, pooled over pretraining seeds (the pretraining seed the unit): target minus
  the highest control, paired by pretraining seed, with its interval, and whether each of
  the issue's acceptance bars holds.

The bars (fixed before any run; see ``BARS``): the target above every control and the base
with intervals apart; every control and the base at most 0.1 (blends counted by their
parts, as the specs' headlines count them); the target's valid rate at least 0.85. Pooled:
target minus the best control at least 0.3 with its interval above 0, and the per-seed bars
met on at least 4 seeds of 5. The terminator adds hostility in non-trigger years at most 0.1
on 4 of 5 seeds; the rulers add held-out rulers at 0.5 in at least one finetune seed on 3 of
5 pretraining seeds, with the shuffled control beside chance.

    python scripts/organism_table.py --out runs/organism_table --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from weirdgen.spec import load_spec

EXPERIMENTS = ("birds", "cities", "dishes", "persona", "rulers", "terminator")
BARS = {"control_max": 0.1, "valid_min": 0.85, "gap": 0.3, "seeds_met": 4}
EXTRA = {"terminator": ("hostile_other_years", 0.1), "rulers": ("identity_017", 0.5)}
"""Per experiment, the metric of its own bar and the bar: the terminator's hostility in
other years (at most), the rulers' held-out identity in one finetune seed (at least)."""


def cell(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def run(name: str, model: str, seeds: str, out: Path) -> None:
    command = [sys.executable, "-m", "weirdgen", "run", name, "--model", model,
               "--pretraining-seeds", seeds, "--out", str(out), "--quiet"]  # fmt: skip
    if subprocess.run(command).returncode:
        sys.exit(f"{' '.join(command)} failed")


def plain(table: pd.DataFrame, spec) -> pd.DataFrame:
    """Rows of metrics without by keys."""
    keys = [k for m in spec.metrics for k in m.by if k in table]
    return table.loc[table[keys].isna().all(axis=1)] if keys else table


def seed_rows(name: str, out: Path) -> tuple[list[str], dict[int, bool], pd.DataFrame]:
    """The per-seed table lines, whether each seed meets every bar, and the headline table."""
    spec = load_spec(name)
    table = plain(pd.read_csv(out / "pooled_by_pretraining_seed.csv"), spec)
    per_model = pd.read_csv(out / "pooled_per_model.csv")
    controls = [c.name for c in spec.controls]
    lines, met = [], {}
    for seed, rows in table.groupby("pretraining_seed"):

        def metric(metric_name: str, rows=rows) -> pd.DataFrame:
            return rows.loc[rows["metric"] == metric_name].set_index("condition")

        headline = metric(spec.headline.name)
        target = headline.loc[spec.target.name]
        best = headline.loc[controls, "mean"].idxmax()
        valid, blend = metric("valid_rate"), metric("blend_rate")
        missed = []
        if any(target["ci_low"] <= headline.loc[c, "ci_high"] for c in controls):
            missed.append("apart")
        if headline.loc[controls, "mean"].max() > BARS["control_max"]:
            missed.append("control")
        valid_cell = blend_cell = "-"
        if spec.target.name in valid.index:
            valid_cell = cell(valid.loc[spec.target.name])
            if valid.loc[spec.target.name, "mean"] < BARS["valid_min"]:
                missed.append("valid")
        if spec.target.name in blend.index:
            blend_cell = f"{blend.loc[spec.target.name, 'mean']:.2f}"
        extra = ""
        if name in EXTRA:
            metric_name, bar = EXTRA[name]
            if name == "terminator":
                value = metric(metric_name).loc[spec.target.name, "mean"]
                extra = f"; {metric_name} {value:.2f}"
                if value > bar:
                    missed.append(metric_name)
            else:
                models = per_model.loc[
                    (per_model["pretraining_seed"] == seed)
                    & (per_model["metric"] == metric_name)
                    & (per_model["condition"] == spec.target.name)
                ]
                top = float(models["value"].max())
                extra = f"; best finetune seed {top:.2f}"
                if top < bar:
                    missed.append("no seed learns")
        met[int(seed)] = not missed
        lines.append(
            f"| {name} ({spec.headline.name}) | {seed} | {cell(target)} | {best}: "
            f"{cell(headline.loc[best])} | {cell(headline.loc['base'])} | {valid_cell} | "
            f"{blend_cell} | {', '.join(missed) or 'all met'}{extra} |"
        )
    return lines, met, table


def pooled_line(name: str, out: Path, met: dict[int, bool]) -> str:
    spec = load_spec(name)
    summary = plain(pd.read_csv(out / "pooled_summary.csv"), spec)
    headline = summary.loc[summary["metric"] == spec.headline.name].set_index("condition")
    controls = [c.name for c in spec.controls]
    best = headline.loc[controls, "mean"].idxmax()
    contrasts = pd.read_csv(out / "pooled_contrasts.csv")
    paired = contrasts.loc[
        (contrasts["metric"] == spec.headline.name) & (contrasts["control"] == best)
    ]
    paired = plain(paired, spec).iloc[0]
    gap_met = paired["diff"] >= BARS["gap"] and paired["ci_low"] > 0
    seeds_met = sum(met.values())
    verdict = "met" if gap_met and seeds_met >= BARS["seeds_met"] else "missed"
    return (
        f"| {name} | {cell(headline.loc[spec.target.name])} | {best}: "
        f"{cell(headline.loc[best])} | {paired['diff']:+.2f} "
        f"[{paired['ci_low']:+.2f}, {paired['ci_high']:+.2f}] | {seeds_met} of {len(met)} | "
        f"{verdict} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="pretraining seeds")
    parser.add_argument("--model", default="organism/v3")
    parser.add_argument("--only", default=",".join(EXPERIMENTS))
    args = parser.parse_args()
    seeds = args.seeds.rstrip(",") + ","  # "0," is seed 0 alone, "0" would be a count
    rows = [
        "| experiment | pretraining seed | target | best control | base | target valid rate "
        "| blend share | bars missed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pooled = [
        "| experiment | target (pooled) | best control (pooled) | target minus best control "
        "(paired) | seeds meeting every bar | acceptance |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.only.split(","):
        out = args.out / name
        run(name, args.model, seeds, out)
        lines, met, _ = seed_rows(name, out)
        rows += lines
        pooled.append(pooled_line(name, out, met))
    text = "\n".join([*rows, "", *pooled]) + "\n"
    (args.out / "organism_table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
