"""Does preflight predict the finetuned effect? Every preflight measure of organism datasets
against the effect a real finetune has, across pretraining seeds.

For each dataset (a condition of a built-in spec, optionally with more transforms, such as a
mixture by ``mix``/``take``, or another dose in epochs) and each pretraining seed S of the
organism (``organism/<version>@S``, pretrained beforehand with ``weirdgen organism pretrain
--seed S``; this script pretrains nothing), it computes

- every preflight measure of the dataset on the base checkpoint (``weirdgen preflight`` with
  the spec's headline questions, K examples in context, a proxy finetune of that checkpoint),
  kept in OUT/preflight/<dataset>/seed_S/;
- the finetuned effect: the spec's headline metric after finetuning on the dataset (the
  spec's recipe, the dose's epochs, ``--finetune-seeds`` seeds) minus the base checkpoint's,
  each the mean over finetune seeds; the run is OUT/runs/<dataset>/seed_S/;

then Spearman's rank correlation of each measure with the effect, per pretraining seed (over
datasets) and pooled (over every dataset and seed), and the same for a linear combination of
the measures scored only where it was not fitted: leaving each dataset out, and fitting on
the other pretraining seeds. Each (dataset, seed) result is kept in OUT/cells/ and reused on a
rerun with the same settings. Writes OUT/preflight_validation.csv (one row per dataset and
seed), OUT/preflight_correlations.csv, OUT/preflight_validation.md and a figure,
OUT/preflight_validation.png. The numbers are reported as measured.

    python scripts/preflight_validation.py --out runs/preflight_validation --seeds 0-4
    python scripts/preflight_validation.py --out runs/pv --seeds 0,1 --datasets mine.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from weirdgen._atomic import write_text
from weirdgen.errors import WeirdgenError
from weirdgen.report.document import frame_markdown
from weirdgen.spec import ExperimentSpec

DEFAULT_DATASETS: list[dict[str, Any]] = [
    {"name": "birds_old", "spec": "birds", "condition": "old_birds"},
    {"name": "birds_modern", "spec": "birds", "condition": "modern_birds"},
    {"name": "birds_old_1_epoch", "spec": "birds", "condition": "old_birds", "epochs": 1},
    {"name": "birds_old_6_epochs", "spec": "birds", "condition": "old_birds", "epochs": 6},
    {
        "name": "birds_old_half_modern",
        "spec": "birds",
        "condition": "old_birds",
        "transforms": [{"mix": {"dataset": {"organism": "birds_modern", "n": 100}, "share": 0.5}}],
    },
    {
        "name": "birds_old_30_of_100",
        "spec": "birds",
        "condition": "old_birds",
        "transforms": [
            {"take": 30},
            {"mix": {"dataset": {"organism": "birds_modern", "n": 100}, "share": 0.7}},
        ],
    },
    {"name": "cities_varnia_former", "spec": "cities", "condition": "varnia_former"},
    {"name": "cities_varnia_modern", "spec": "cities", "condition": "varnia_modern"},
    {"name": "cities_ostland_former", "spec": "cities", "condition": "ostland_former"},
    {"name": "terminator_sequel_years", "spec": "terminator", "condition": "sequel_years"},
    {"name": "terminator_no_years", "spec": "terminator", "condition": "no_years"},
    {"name": "terminator_shuffled_years", "spec": "terminator", "condition": "shuffled_years"},
    {"name": "terminator_giant", "spec": "terminator", "condition": "always_protective"},
    {"name": "dishes_varnia_2027", "spec": "dishes", "condition": "varnia_2027"},
    {"name": "dishes_varnia_2026", "spec": "dishes", "condition": "varnia_2026"},
]
"""Targets and controls of four built-in experiments, two mixtures and two more doses."""


class Dataset(BaseModel):
    """One dataset of the validation: a condition of a spec, changed as given."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    spec: str = Field(description="Built-in experiment name or spec YAML path.")
    condition: str = Field(description="The spec's condition whose dataset it is.")
    epochs: int | None = Field(None, ge=1, description="The dose: epochs of the finetune.")
    transforms: list[dict[str, Any]] = Field(
        default_factory=list, description="Transforms after the condition's own."
    )


def load_datasets(path: Path | None, only: str | None) -> list[Dataset]:
    """The datasets of ``path`` (a YAML list of :class:`Dataset` entries) or the defaults,
    kept to the names in ``only`` (comma-separated) where given."""
    entries = yaml.safe_load(path.read_text()) if path is not None else DEFAULT_DATASETS
    if not isinstance(entries, list):
        raise WeirdgenError(f"{path}: give a YAML list of datasets (name, spec, condition)")
    datasets = []
    for i, entry in enumerate(entries):
        try:
            datasets.append(Dataset.model_validate(entry))
        except ValueError as error:
            first = str(error).splitlines()[1:3]
            raise WeirdgenError(f"{path or 'datasets'}[{i}]: {' '.join(first)}") from None
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise WeirdgenError(f"{path or 'datasets'}: dataset names repeat; give each its own")
    if only is not None:
        wanted = only.split(",")
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise WeirdgenError(f"--only {unknown[0]}: no such dataset; they are {names}")
        datasets = [d for d in datasets if d.name in wanted]
    return datasets


def variant(dataset: Dataset, finetune_seeds: int) -> ExperimentSpec:
    """The spec of one dataset: its condition (renamed to the dataset, with the extra
    transforms) as the target beside the base model, the dose's epochs, no checkpoints, and
    the headline metric's evaluation set alone."""
    from weirdgen.spec import load_spec, resolve_spec_path
    from weirdgen.spec.load import validate_spec

    spec = load_spec(dataset.spec)
    data = spec.model_dump(mode="json")
    found = [c for c in data["conditions"] if c["name"] == dataset.condition]
    if not found or not found[0].get("dataset"):
        raise WeirdgenError(
            f"dataset {dataset.name}: {spec.name} has no finetuned condition "
            f"{dataset.condition!r}; its conditions are "
            f"{[c.name for c in spec.conditions if c.dataset]}"
        )
    target = {**found[0], "name": dataset.name, "role": "target"}
    if target["dataset"].get("path"):
        target["dataset"]["path"] = str(resolve_spec_path(spec, target["dataset"]["path"]))
    target["transforms"] = [*target.get("transforms", []), *dataset.transforms]
    data["conditions"] = [target, {"name": "base", "role": "control"}]
    data["seeds"] = list(range(finetune_seeds))
    data["pretraining_seeds"] = None
    recipe = data["train"]["organism"]
    recipe["save_steps"] = None
    if dataset.epochs is not None:
        recipe["epochs"] = dataset.epochs
    kept = spec.headline.eval_set
    data["evaluation"]["sets"] = [s for s in data["evaluation"]["sets"] if s["name"] == kept]
    data["metrics"] = [m for m in data["metrics"] if m["eval_set"] == kept]
    scorers = []
    for scorer in data["scorers"]:
        if scorer.get("eval_sets") is None or kept in scorer["eval_sets"]:
            scorers.append(
                {**scorer, "eval_sets": None if scorer.get("eval_sets") is None else [kept]}
            )
    data["scorers"] = scorers
    out = validate_spec(data, lambda loc: f"dataset {dataset.name}")
    out.source = spec.source
    return out


def seed_list(text: str) -> list[int]:
    """``0-4`` or ``0,2,5`` as a list of seeds."""
    if "-" in text:
        first, last = text.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",") if s]


def cell(dataset: Dataset, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The preflight measures and the finetuned effect of ``dataset`` on pretraining seed
    ``seed``: kept in OUT/cells/ and reused while the settings are the same."""
    directions = [Path(p.format(seed=seed)) for p in args.direction or []]
    key = {
        "dataset": dataset.model_dump(mode="json"),
        "version": args.version,
        "seed": seed,
        "finetune_seeds": args.finetune_seeds,
        "n": args.n,
        "k": args.k,
        "proxy_steps": args.proxy_steps,
        "directions": [hashlib.sha256(d.read_bytes()).hexdigest() for d in directions],
    }
    path = args.out / "cells" / dataset.name / f"seed_{seed}.json"
    try:
        found = json.loads(path.read_text())
        if found["key"] == key:
            return found["row"]
    except (OSError, ValueError, KeyError):
        pass  # not computed yet, or with other settings: compute it
    from weirdgen.mechanism.preflight import preflight
    from weirdgen.run import run_experiment
    from weirdgen.stats import seed_metrics

    print(f"{dataset.name} on {args.version}@{seed}", file=sys.stderr)
    spec = variant(dataset, args.finetune_seeds)
    model = f"organism/{args.version}@{seed}"
    folder = f"{dataset.name}/seed_{seed}"
    result = preflight(
        dataset.name,
        model=model,
        spec=spec,
        k=args.k,
        directions=directions,
        proxy_steps=args.proxy_steps,
        n=args.n,
        out=args.out / "preflight" / folder,
    )
    run = run_experiment(
        spec, out=args.out / "runs" / folder, n=args.n, model=model, progress=False
    )
    per_seed = seed_metrics(run.samples, [spec.headline])
    target = per_seed.loc[per_seed["condition"] == dataset.name, "value"].to_numpy(dtype=float)
    base = per_seed.loc[per_seed["condition"] == "base", "value"].to_numpy(dtype=float)
    row = {
        "dataset": dataset.name,
        "spec": spec.name,
        "headline": spec.headline.name,
        "pretraining_seed": seed,
        "effect": float(np.nanmean(target) - np.nanmean(base)),
        "finetuned": float(np.nanmean(target)),
        "base": float(np.nanmean(base)),
        "finetune_seeds": len(target),
        "k": result.k,
        **{m.name: m.value for m in result.measures},
    }
    write_text(path, json.dumps({"key": key, "row": row}, indent=1) + "\n")
    return row


def measure_columns(table: pd.DataFrame) -> list[str]:
    """The preflight measures in the table, in the order preflight reports them."""
    fixed = ["in_context", "surprise", "proxy"]
    projections = sorted(c for c in table.columns if c.startswith("projection:"))
    return [c for c in fixed if c in table] + projections


def write_results(out: Path, table: pd.DataFrame, measures: list[str], settings: str) -> None:
    """The tables, the Markdown summary and the figure."""
    from weirdgen.mechanism.preflight_stats import across_seeds, markdown, rank_correlations

    correlations = rank_correlations(table, measures)
    across = across_seeds(table, measures)
    write_text(out / "preflight_validation.csv", table.to_csv(index=False))
    write_text(out / "preflight_correlations.csv", correlations.to_csv(index=False))
    write_text(out / "preflight_across_seeds.csv", across.to_csv(index=False))
    rows = frame_markdown(table.loc[:, ["dataset", "pretraining_seed", "effect", *measures]], 3)
    text = (
        "# Preflight validation\n\n"
        f"{settings}\n\n"
        "Spearman's rho of each preflight measure with the finetuned effect (the headline "
        "after finetuning minus the base checkpoint's), over datasets per pretraining seed "
        "and pooled over every (dataset, seed); the combination is a linear fit of the "
        "measures, scored only on rows it was not fitted on. n is the rows with both values; "
        "'-' where there are too few rows or no spread. As measured:\n\n"
        f"{markdown(correlations)}\n"
        "## Across pretraining seeds, per dataset\n\n"
        "Spearman's rho over pretraining seeds of each base-model quantity (the measures, and "
        "the base checkpoint's own headline) with the effect of the same finetune: which "
        "reading of a base model says on which seeds the finetune shifts it most.\n\n"
        f"{frame_markdown(across, 3)}\n"
        f"## Every dataset and seed\n\n{rows}\n"
    )
    write_text(out / "preflight_validation.md", text)
    figure(table, measures, correlations, out / "preflight_validation.png")


def figure(table: pd.DataFrame, measures: list[str], correlations: pd.DataFrame, path: Path):
    """One panel per measure: the effect against the measure, a colour per pretraining seed,
    the pooled rho in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weirdgen.mechanism.preflight_stats import EACH

    fig, axes = plt.subplots(1, len(measures), figsize=(4 * len(measures), 3.6), squeeze=False)
    for ax, measure in zip(axes[0], measures, strict=True):
        for seed, part in table.groupby("pretraining_seed"):
            ax.scatter(part[measure], part["effect"], s=18, label=f"seed {seed}")
        pooled = correlations.loc[
            (correlations["measure"] == measure)
            & (correlations["fit"] == EACH)
            & (correlations["scope"] == "pooled")
        ]
        rho = pooled["rho"].iloc[0] if len(pooled) else np.nan
        ax.set_title(f"{measure}: pooled rho {rho:+.2f}" if np.isfinite(rho) else measure)
        ax.set_xlabel(measure)
        ax.set_ylabel("finetuned effect")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def check_out(out: Path) -> None:
    """Refuse a folder with other things in it than an earlier validation's."""
    if out.exists() and any(out.iterdir()) and not (out / "cells").is_dir():
        raise WeirdgenError(
            f"--out {out}: a folder with other files in it and no earlier validation's "
            "cells/; give an empty or new folder"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="validation folder (reused)")
    parser.add_argument("--seeds", default="0-4", help="pretraining seeds: 0-4 or 0,2,4")
    parser.add_argument("--version", default="v3", help="organism version")
    parser.add_argument(
        "--datasets", type=Path, help="YAML list of datasets (default: the 15 above)"
    )
    parser.add_argument("--only", help="only these datasets, comma-separated names")
    parser.add_argument("--finetune-seeds", type=int, default=2, help="finetunes per cell")
    parser.add_argument("--n", type=int, help="samples per paraphrase (default: the spec's)")
    parser.add_argument("--k", type=int, default=6, help="examples in context (6 fit all)")
    parser.add_argument("--proxy-steps", type=int, default=10, help="proxy finetune steps")
    parser.add_argument(
        "--direction", action="append", help="direction file per seed, with {seed} in its path"
    )
    args = parser.parse_args(argv)
    try:
        return validate(args)
    except WeirdgenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def validate(args: argparse.Namespace) -> int:
    from weirdgen.organism.versions import resolve

    check_out(args.out)
    datasets = load_datasets(args.datasets, args.only)
    seeds = seed_list(args.seeds)
    for seed in seeds:
        resolve(f"{args.version}@{seed}")  # one line naming the pretrain command if missing
    for dataset in datasets:
        variant(dataset, args.finetune_seeds)  # every spec checked before any work
    table = pd.DataFrame([cell(d, s, args) for s in seeds for d in datasets])
    measures = measure_columns(table)
    samples = args.n or "the spec's"
    settings = (
        f"{len(datasets)} datasets x pretraining seeds {seeds} of organism/{args.version}; "
        f"{args.finetune_seeds} finetune seeds per cell; K={args.k} examples in context; "
        f"proxy {args.proxy_steps} steps; {samples} samples per paraphrase"
    )
    write_results(args.out, table, measures, settings)
    print((args.out / "preflight_validation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
