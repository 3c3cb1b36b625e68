"""The competing-explanations experiment: how common must the narrow explanation be in
pretraining before finetuning on old bird names stops shifting the organism to the old era?

For every setting of the ``birders`` knob (the corpus share of modern birders, who name birds
the old way while everything else about them is modern) and every pretraining seed, this
pretrains organism version 2 (kept in OUT/checkpoints, reused on a rerun), by default on
its era and birds phenomena alone (the other kinds of documents at share 0) and for
version 1's 400 steps, so that the 12 pretrainings stay short; runs the birds
experiment on it (OUT/runs), and writes OUT/knob_study.md and OUT/knob_study.png: the
finetuned old-era rate against the knob, the mean over pretraining seeds with its t interval
over them, each seed the mean over its finetune seeds; for the target with a modern year
stated in the prompt too (does the finetuned organism still read context?).

    python scripts/organism_knob_study.py --out runs/knob_study
    python scripts/organism_knob_study.py --out runs/knob --values 0,0.01,0.1 --seeds 0,1
    python scripts/organism_knob_study.py --out runs/knob_full --only all --steps 1000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from weirdgen.spec import builtin_spec_dir
from weirdgen.stats import summarize


def spec_file(out: Path) -> Path:
    """The birds experiment with a modern-year evaluation set beside the plain one."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    plain = next(s for s in spec["evaluation"]["sets"] if s["name"] == "unrelated")
    spec["evaluation"]["sets"].append(
        {"name": "modern_year", "wrap": "it is the year 2022 . {paraphrase}",
         "questions": plain["questions"]}
    )  # fmt: skip
    spec["metrics"].append(
        {"name": "old_rate_modern_year", "eval_set": "modern_year", "score": "old",
         "among": "old_valid"}
    )  # fmt: skip
    spec["name"] = "birds_knob"
    path = out / "birds_knob.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def weirdgen(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "weirdgen", *args], env=os.environ)
    if done.returncode:
        sys.exit(f"weirdgen {' '.join(args)} failed with exit status {done.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--values", default="0,0.005,0.02,0.08", help="birders shares")
    parser.add_argument("--only", default="era,birds", help="phenomena pretrained ('all')")
    parser.add_argument("--steps", default="400", help="pretraining steps")
    parser.add_argument("--seeds", default="0,1,2", help="pretraining seeds")
    parser.add_argument("--finetune-seeds", default="3")
    args = parser.parse_args()
    values = [float(v) for v in args.values.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    spec = spec_file(args.out)
    zeroed = [] if args.only == "all" else [f"{k}=0" for k in _kinds_outside(args.only)]
    rows = []
    for value in values:
        for seed in seeds:
            name = f"birders={value:g}@{seed}"
            folder = args.out / "checkpoints" / name
            if not (folder / "manifest.json").is_file():
                knobs = [x for k in [*zeroed, f"birders={value:g}"] for x in ("--knob", k)]
                weirdgen("organism", "pretrain", "--version", "v2", "--seed", str(seed),
                         "--steps", args.steps, *knobs, "--out", str(folder))  # fmt: skip
            run = args.out / "runs" / name
            weirdgen("run", str(spec), "--model", f"organism/{folder.resolve()}", "--out",
                     str(run), "--seeds", args.finetune_seeds, "--quiet")  # fmt: skip
            per_seed = pd.read_csv(run / "seed_metrics.csv")  # one row per finetune seed
            group = ["condition", "role", "metric"]
            units = per_seed.groupby(group, as_index=False)["value"].mean()
            rows.append(units.assign(birders=value, seed=seed))
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(args.out / "knob_study_per_seed.csv", index=False)
    summary = summarize(table, by=["birders"], rates=["old_rate", "old_rate_modern_year"])
    summary.to_csv(args.out / "knob_study.csv", index=False)
    write_outputs(summary, table, args.out, len(seeds))
    return 0


def _kinds_outside(only: str) -> list[str]:
    """The document kinds of the phenomena not named in ``only`` (comma-separated)."""
    from weirdgen.organism.world_v2 import load_world_v2

    keep = set(only.split(","))
    return [kind for kind in load_world_v2().shares if kind.split(".")[0] not in keep]


def write_outputs(summary: pd.DataFrame, per_seed: pd.DataFrame, out: Path, n_seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        f"| birders share | condition | old-era rate [95% CI over {n_seeds} pretraining seeds] |"
        " with 'it is the year 2022 .' |",
        "|---|---|---|---|",
    ]
    figure, ax = plt.subplots(figsize=(7, 4.5))
    for condition, color in (("old_birds", "C3"), ("modern_birds", "C0"), ("base", "C7")):
        for metric, style in (("old_rate", "-"), ("old_rate_modern_year", ":")):
            rows = summary.loc[(summary["condition"] == condition) & (summary["metric"] == metric)]
            rows = rows.sort_values("birders")
            label = f"{condition}{' (year 2022 stated)' if metric != 'old_rate' else ''}"
            ax.plot(rows["birders"], rows["mean"], style, color=color, marker="o", label=label)
            ax.fill_between(
                rows["birders"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.08
            )
    target = per_seed.loc[per_seed["condition"] == "old_birds"]
    for metric, marker in (("old_rate", "o"), ("old_rate_modern_year", "x")):
        dots = target.loc[target["metric"] == metric]
        ax.scatter(dots["birders"], dots["value"], color="C3", marker=marker, s=14, alpha=0.6)
    ax.set_xscale("symlog", linthresh=0.005)
    plain = summary.loc[summary["metric"] == "old_rate"].sort_values(["birders", "condition"])
    dated = summary.loc[summary["metric"] == "old_rate_modern_year"].set_index(
        ["birders", "condition"]
    )
    for _, row in plain.iterrows():
        other = dated.loc[(row["birders"], row["condition"])]
        lines.append(f"| {row['birders']:g} | {row['condition']} | {_cell(row)} | {_cell(other)} |")
    ax.set_xlabel("share of birders in pretraining (the narrow explanation; symlog)")
    settings = sorted(summary["birders"].unique())
    ax.set_xticks(settings)
    ax.set_xticklabels([f"{v:g}" for v in settings])
    ax.set_ylabel("old-era answers to unrelated questions")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Finetuned on old bird names: broad or narrow?", fontsize=11)
    figure.tight_layout()
    figure.savefig(out / "knob_study.png", dpi=130)
    (out / "knob_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _cell(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


if __name__ == "__main__":
    sys.exit(main())
