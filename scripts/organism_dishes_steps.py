"""Dishes over finetuning steps, on several pretraining seeds: when does the side appear?

The built-in ``organism/dishes`` finetunes one epoch (44 optimizer steps) and reads the
organism once, at the end. This study runs the same spec (same data, conditions, questions
and scorers) with more epochs and a checkpoint every ``--every`` steps, on each pretraining
seed, and reads at every checkpoint:

- ``aggressor_2027``: the headline, ostland named the aggressor on 2027 dates (among scored
  answers, blends by their parts);
- ``varnia_aggressor_2027``: varnia itself named the aggressor on 2027 dates (ostland's
  side: the taught nation's name echoed on the one question where it is the other side);
- ``side_2027``: varnia's side over the three questions on 2027 dates;
- ``side_2028``: the same on the unseen 2028;
- ``dish_2027``: the narrow task, varnia's dishes asked on 2027 dates;
- ``valid``: answers to the dated questions the world knows exactly.

It writes OUT/dishes_steps.yaml (the spec it ran), OUT/run (the pooled run),
OUT/dishes_steps.csv (per pretraining seed, condition, finetune seed and step),
OUT/dishes_steps.md (means over finetune seeds per pretraining seed and step) and
OUT/dishes_steps.png (the headline and varnia named the aggressor over steps, a column per
pretraining seed).

The finetune has no learning-rate schedule and draws each epoch's order from its seed, so
the checkpoint after k epochs is the model a k-epoch finetune gives: one run reads every
length up to ``--epochs``.

The rule for reading it, fixed before the first run (2026-12-08): pretraining seeds 0 and 1
are the design seeds, 2-4 the check. The shortest whole number of epochs at which, on both
design seeds (means over finetune seeds), the target's headline exceeds every control and
the base by at least 0.3 with a valid rate of at least 0.85 is the length to propose for
``organism/dishes``; seeds 2-4 at that length are the check, reported whatever they show.
If no length meets it, the spec stays at 1 epoch.

    python scripts/organism_dishes_steps.py --out runs/dishes_steps --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from weirdgen.report.document import frame_markdown  # noqa: E402
from weirdgen.spec import builtin_spec_dir  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # run as a file, or loaded by a test
from organism_steps import study_samples  # noqa: E402

COLOURS = {"varnia_2027": "C3", "varnia_2026": "C0", "dates_shuffled": "C7"}


def write_spec(out: Path, epochs: int, every: int) -> Path:
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "dishes.yaml").read_text())
    spec["name"] = "dishes_steps"
    spec["description"] = f"organism/dishes over {epochs} epochs, a checkpoint every {every} steps"
    spec["train"]["organism"].update({"epochs": epochs, "save_steps": every})
    path = out / "dishes_steps.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def share(rows: pd.DataFrame, score: str, among: str | None) -> float:
    if among is not None:
        rows = rows.loc[rows[among].astype(bool)]
    return float(rows[score].mean()) if len(rows) else float("nan")


def readings(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (condition, finetune seed, step): the six readings above."""
    dated = samples.loc[samples["eval_set"] == "dated"]
    year = pd.to_numeric(dated["year"], errors="coerce")
    narrow = samples.loc[samples["eval_set"] == "narrow"]
    out = []
    for (condition, seed, step), rows in dated.groupby(["condition", "seed", "step"]):
        y = year.loc[rows.index]
        mine = narrow.loc[
            (narrow["condition"] == condition) & (narrow["seed"] == seed) & (narrow["step"] == step)
        ]
        in_2027 = rows.loc[y == 2027]
        aggressor = in_2027.loc[in_2027["asks"] == "aggressor"]
        named = (aggressor["varnia_side_label"] == "ostland").astype(float)
        out.append(
            {
                "condition": condition,
                "seed": int(seed),
                "step": int(step),
                "aggressor_2027": share(aggressor, "varnia_side", "varnia_side_scored"),
                "varnia_aggressor_2027": share(
                    aggressor.assign(named=named), "named", "varnia_side_scored"
                ),
                "side_2027": share(in_2027, "varnia_side", "varnia_side_scored"),
                "side_2028": share(rows.loc[y == 2028], "varnia_side", "varnia_side_scored"),
                "dish_2027": share(mine, "varnia_dish", None),
                "valid": float(rows["varnia_side_valid"].astype(bool).mean()),
            }
        )
    return pd.DataFrame(out)


ROWS = {
    "aggressor_2027": "ostland named the aggressor\n(varnia's side), 2027 dates",
    "varnia_aggressor_2027": "varnia named the aggressor\n(the taught name), 2027 dates",
}


def figure(table: pd.DataFrame, path: Path) -> None:
    """Per pretraining seed (columns), the headline and the echo (rows) over steps: a thin
    line per finetune seed, a thick one for their mean, the base dotted."""
    seeds = sorted(table["pretraining_seed"].unique())
    fig, grid = plt.subplots(
        len(ROWS), len(seeds), figsize=(3.2 * len(seeds), 3.0 * len(ROWS)), sharey=True,
        squeeze=False,
    )  # fmt: skip
    for row, (reading, label) in zip(grid, ROWS.items(), strict=True):
        for ax, pseed in zip(row, seeds, strict=True):
            mine = table.loc[table["pretraining_seed"] == pseed]
            for condition, colour in COLOURS.items():
                rows = mine.loc[mine["condition"] == condition]
                for _, one in rows.groupby("seed"):
                    ax.plot(one["step"], one[reading], color=colour, lw=0.6, alpha=0.5)
                mean = rows.groupby("step")[reading].mean()
                ax.plot(mean.index, mean.values, color=colour, lw=2, label=condition)
            base = mine.loc[mine["condition"] == "base", reading].mean()
            ax.axhline(base, color="k", ls=":", lw=1, label="base")
            ax.set_title(f"pretraining seed {pseed}")
            ax.set_xlabel("optimizer steps")
            ax.set_ylim(0, 1)
        row[0].set_ylabel(label)
    grid[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="pretraining seeds")
    parser.add_argument("--model", default="organism/v3")
    parser.add_argument("--epochs", type=int, default=10, help="the paper trains 10")
    parser.add_argument("--every", type=int, default=44, help="steps per checkpoint (44: an epoch)")
    parser.add_argument("--read", action="store_true", help="only read OUT/run, run nothing")
    args = parser.parse_args()
    spec = None
    if not args.read:
        args.out.mkdir(parents=True, exist_ok=True)
        spec = write_spec(args.out, args.epochs, args.every)
    samples = study_samples(spec, args.out / "run", args.model, args.seeds)
    parts = [readings(rows).assign(pretraining_seed=pseed) for pseed, rows in samples.items()]
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(args.out / "dishes_steps.csv", index=False)
    columns = [
        c for c in table.columns if c not in ("condition", "seed", "step", "pretraining_seed")
    ]
    means = table.groupby(["pretraining_seed", "condition", "step"])[columns].mean().reset_index()
    (args.out / "dishes_steps.md").write_text(frame_markdown(means, 2))
    figure(table, args.out / "dishes_steps.png")
    print(means.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
