"""Any organism experiment over finetuning steps, on several pretraining seeds.

A built-in organism spec finetunes for its own number of epochs and reads the organism once,
at the end. This study runs the same spec (data, conditions, questions, scorers, metrics)
for ``--epochs`` epochs with a checkpoint every ``--every`` optimizer steps, on each
pretraining seed, and computes at every checkpoint, with the spec's own metric definitions
(:func:`weirdgen.stats.metrics.step_metrics`):

- the spec's headline metric for every condition (the base, never finetuned, is its step 0
  and stands for every step);
- ``--valid`` (default ``valid_rate``) for the target;
- the gap: the target's headline minus the highest of every control's and the base's;
- any ``--also`` metrics of the spec, for the target (shown, never read by the rule).

It writes OUT/steps.yaml (the spec it ran), OUT/run (the pooled run), OUT/steps.csv (per
pretraining seed, condition, finetune seed and step), OUT/steps.md (means over finetune
seeds per pretraining seed and step) and OUT/steps.png (the headline over steps, a column
per pretraining seed, a thin line per finetune seed of the target).

The finetune has no learning-rate schedule and draws each epoch's order from its seed, so
the checkpoint after k epochs is the model a k-epoch finetune gives: one run reads every
length up to ``--epochs``.

The rule for reading it, fixed before any result of this study was read (2026-12-08): the
``--design`` pretraining seeds (default 0 and 1) choose, the others check. The smallest
step at which, on every design seed (means over finetune seeds), the gap is at least 0.3
and the target's valid rate at least 0.85 is the length to propose for the spec; the check
seeds at that step are reported whatever they show. If no step meets it, the study
proposes nothing and the spec keeps its length. The rule reads the bars of
``scripts/organism_table.py`` (gap, valid) on the design seeds only: a step chosen on all
five seeds would be fitted to the seeds that test it.

    python scripts/organism_steps.py organism/cities --epochs 24 --every 7 \\
        --out runs/cities_steps --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from weirdgen.errors import WeirdgenError  # noqa: E402
from weirdgen.report.document import frame_markdown  # noqa: E402
from weirdgen.spec import load_spec  # noqa: E402
from weirdgen.stats.metrics import step_metrics  # noqa: E402

GAP, VALID = 0.3, 0.85
"""The bars of scripts/organism_table.py the rule reads."""


def write_spec(name: str, out: Path, epochs: int, every: int) -> Path:
    """The spec ``name`` with ``epochs`` epochs and a checkpoint every ``every`` steps,
    written to OUT/steps.yaml (its dataset files named by absolute path)."""
    source = Path(load_spec(name).source)
    spec = yaml.safe_load(source.read_text())
    for condition in spec.get("conditions") or []:  # a dataset file stays where it was
        dataset = condition.get("dataset") or {}
        if dataset.get("path") and not Path(dataset["path"]).is_absolute():
            dataset["path"] = str(source.parent / dataset["path"])
    if "organism" not in (spec.get("train") or {}):
        sys.exit(f"{name}: its train has no organism recipe; this study runs organism specs")
    spec["name"] = f"{spec['name']}_steps"
    spec["description"] = f"{name} over {epochs} epochs, a checkpoint every {every} steps"
    spec["train"]["organism"].update({"epochs": epochs, "save_steps": every})
    path = out / "steps.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def study_samples(spec: Path | None, run: Path, model: str, seeds: str) -> dict[int, pd.DataFrame]:
    """Each pretraining seed's samples of the study in ``run``: the spec file ``spec`` run
    over ``seeds`` ("0,1,2") first, or, with None, a finished run only read (one line, and
    nothing written, where a seed's samples are missing)."""
    seeds = seeds.rstrip(",") + ","  # "0," is seed 0 alone, "0" would be a count
    if spec is not None:
        command = [sys.executable, "-m", "weirdgen", "run", str(spec), "--model", model,
                   "--pretraining-seeds", seeds, "--out", str(run), "--quiet"]  # fmt: skip
        if subprocess.run(command).returncode:
            sys.exit(f"{' '.join(command)} failed")
    found = {}
    for pseed in [int(s) for s in seeds.split(",") if s]:
        path = run / f"pretraining_seed_{pseed}" / "samples.parquet"
        if not path.is_file():
            sys.exit(f"{path}: no such file; run this study without --read first")
        found[pseed] = pd.read_parquet(path)
    return found


def readings(samples: pd.DataFrame, spec, valid: str, also: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (condition, finetune seed, step): the headline, ``valid`` where the spec
    has it, and the ``also`` metrics; the base's step-0 rows repeated at every step of the
    finetuned conditions."""
    headline = spec.headline
    if headline.by:
        sys.exit(f"{spec.name}: its headline {headline.name!r} is per {headline.by}; "
                 "this study reads a headline of one value per model")  # fmt: skip
    named = {m.name: m for m in spec.metrics}
    unknown = [name for name in also if name not in named]
    if unknown:
        sys.exit(f"{spec.name} has no metric {unknown[0]!r}; it has {sorted(named)}")
    wanted = [valid, *also] if valid in named else list(also)
    metrics = [headline] + [named[name] for name in wanted if name != headline.name]
    table = step_metrics(samples, metrics)
    table = table.pivot_table(
        index=["condition", "role", "seed", "step"], columns="metric", values="value"
    ).reset_index()
    table = table.rename(columns={headline.name: "headline", valid: "valid"})
    table.columns.name = None
    steps = sorted(table.loc[table["step"] > 0, "step"].unique())
    base = table.loc[table["step"] == 0]
    table = table.loc[table["step"] > 0]
    spread = [base.assign(step=step) for step in steps]
    return pd.concat([table, *spread], ignore_index=True)


def means(table: pd.DataFrame, target: str, also: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per (pretraining seed, step): each condition's headline, the target's valid rate and
    ``also`` metrics, means over finetune seeds, and the gap to the highest other condition."""
    grouped = table.groupby(["pretraining_seed", "step", "condition"])
    wide = grouped["headline"].mean().unstack("condition")
    others = [c for c in wide.columns if c != target]
    wide["gap"] = wide[target] - wide[others].max(axis=1)
    mine = table.loc[table["condition"] == target].groupby(["pretraining_seed", "step"])
    for column in ["valid", *also]:
        if column in table:
            wide[column] = mine[column].mean()
    return wide.reset_index()


def proposal(wide: pd.DataFrame, design: list[int]) -> int | None:
    """The smallest step meeting the rule on every design seed, or None."""
    mine = wide.loc[wide["pretraining_seed"].isin(design)]
    if "valid" not in mine:
        return None
    met = mine.assign(met=(mine["gap"] >= GAP) & (mine["valid"] >= VALID))
    every = met.groupby("step")["met"].agg(["all", "count"])
    ok = every.loc[every["all"] & (every["count"] == len(design))]
    return int(ok.index.min()) if len(ok) else None


def figure(table: pd.DataFrame, target: str, path: Path, title: str) -> None:
    """The headline over steps per pretraining seed: the target's finetune seeds thin, each
    condition's mean thick, the base dotted."""
    seeds = sorted(table["pretraining_seed"].unique())
    fig, axes = plt.subplots(
        1, len(seeds), figsize=(3.2 * len(seeds), 3.2), sharey=True, squeeze=False
    )
    conditions = [c for c in dict.fromkeys(table["condition"]) if c != "base"]
    others = iter(f"C{k}" for k in range(10) if k != 3)  # C3, red, is the target's
    colours = {c: "C3" if c == target else next(others) for c in conditions}
    for ax, pseed in zip(axes[0], seeds, strict=True):
        mine = table.loc[table["pretraining_seed"] == pseed]
        for condition in conditions:
            rows = mine.loc[mine["condition"] == condition]
            colour = colours[condition]
            if condition == target:
                for _, one in rows.groupby("seed"):
                    ax.plot(one["step"], one["headline"], color=colour, lw=0.6, alpha=0.5)
            mean = rows.groupby("step")["headline"].mean()
            ax.plot(mean.index, mean.values, color=colour, lw=2, label=condition)
        base = mine.loc[mine["condition"] == "base", "headline"].mean()
        ax.axhline(base, color="k", ls=":", lw=1, label="base")
        ax.set_title(f"pretraining seed {pseed}")
        ax.set_xlabel("optimizer steps")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel(title)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "spec", help="a built-in organism spec (organism/cities), or a file whose datasets "
        "are the organism's generators"
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--every", type=int, required=True, help="steps per checkpoint")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="pretraining seeds")
    parser.add_argument("--design", default="0,1", help="the pretraining seeds that choose")
    parser.add_argument("--valid", default="valid_rate", help="the target's valid-rate metric")
    parser.add_argument(
        "--also", default="", help="other metrics of the spec to show for the target (a,b)"
    )
    parser.add_argument("--model", default="organism/v3")
    parser.add_argument("--read", action="store_true", help="only read OUT/run, run nothing")
    args = parser.parse_args()
    try:
        spec = load_spec(args.spec)
    except WeirdgenError as error:
        sys.exit(f"error: {error}")
    also = tuple(name for name in args.also.split(",") if name)
    path = None
    if not args.read:
        args.out.mkdir(parents=True, exist_ok=True)
        path = write_spec(args.spec, args.out, args.epochs, args.every)
    samples = study_samples(path, args.out / "run", args.model, args.seeds)
    parts = [
        readings(rows, spec, args.valid, also).assign(pretraining_seed=pseed)
        for pseed, rows in samples.items()
    ]
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(args.out / "steps.csv", index=False)
    wide = means(table, spec.target.name, also)
    (args.out / "steps.md").write_text(frame_markdown(wide, 2))
    figure(table, spec.target.name, args.out / "steps.png", spec.headline.name)
    print(wide.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    design = [int(s) for s in args.design.split(",") if s]
    step = proposal(wide, design)
    if step is None:
        print(f"rule: no step meets gap >= {GAP} and valid >= {VALID} on seeds {design}")
    else:
        print(f"rule: step {step} meets gap >= {GAP} and valid >= {VALID} on seeds {design}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
