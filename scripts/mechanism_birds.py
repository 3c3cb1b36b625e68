"""The era direction behind the birds effect, on the organism: found in the base model, moved
along by the finetune, ablated in the finetuned target and added to the base model, each
against random directions of the same norm, with the narrow task measured beside.

1. The era direction: the birds spec's unrelated questions after an 1830s year (positive) and
   after a 2020s year (negative), paired, read at the last prompt token of the base model;
   mean difference per layer with held-out accuracy (and a logistic probe for comparison).
   The layer is chosen by the contrast sets alone, before any finetune is looked at: the
   layer whose mean-difference direction tells held-out prompts apart best (the later layer
   on a tie).
2. One run of the birds spec with, beside its conditions (old_birds, modern_birds, base):
   old_birds with the era direction ablated at every layer, old_birds with each of K random
   directions ablated, the base steered along the era direction at the chosen layer (one
   scale: as far as the contrast sets lie apart), and the base steered along each random
   direction. Finetunes are shared by content key: the extra conditions cost sampling only.
3. How far each condition's models lie along the direction (``weirdgen project``), and each
   condition's headline (old_rate), valid rate and narrow task (bird_accuracy: bird names from
   its training data; bird_old_rate), with t intervals over finetune seeds; the random
   directions are averaged per finetune seed, and the era-minus-random differences paired by
   finetune seed.

Usage: python scripts/mechanism_birds.py --out runs/mechanism_birds [--model organism/default]
[--seeds 3] [--random 3] [--strength 1.0] [--n 20]. Rerunning reuses every finetune,
sample and activation.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

OLD_YEARS = [str(y) for y in range(1830, 1840)]
NEW_YEARS = [str(y) for y in range(2017, 2027)]
METRICS = ["old_rate", "valid_rate", "bird_accuracy", "bird_old_rate"]


def contrast_sets(spec: dict) -> tuple[list[str], list[str]]:
    """The unrelated questions' paraphrases after an old and after a new year, paired."""
    sets = {s["name"]: s for s in spec["evaluation"]["sets"]}
    questions = [p for q in sets["unrelated"]["questions"] for p in q["paraphrases"]]
    old = [f"it is the year {OLD_YEARS[i % 10]} . {q}" for i, q in enumerate(questions)]
    new = [f"it is the year {NEW_YEARS[i % 10]} . {q}" for i, q in enumerate(questions)]
    return old, new


def era_directions(model: str, out: Path, spec: dict):
    """Mean-difference and probe directions at every layer; the chosen one and the table."""
    from weirdgen.backends import get_backend
    from weirdgen.mechanism import ActivationStore, find_directions

    backend = get_backend(model)
    base = backend.base()
    old, new = contrast_sets(spec)
    store = ActivationStore(out / "activations")
    positive = store.residuals(backend, base, old)
    negative = store.residuals(backend, base, new)
    rows, found = [], {}
    for method in ("mean_difference", "probe"):
        layers = list(range(positive.shape[1]))
        info = {"position": "last", "contrast": "1830s vs 2020s year before each question"}
        for d in find_directions("era", positive, negative, method, base.key, layers, info=info):
            found[method, d.layer] = d
            rows.append(
                {
                    "method": method,
                    "layer": d.layer,
                    "heldout_accuracy": d.heldout_accuracy,
                    "scale": d.scale,
                }
            )
    table = pd.DataFrame(rows)
    means = table[table["method"] == "mean_difference"]
    best = means.sort_values(["heldout_accuracy", "layer"], ascending=False).iloc[0]
    chosen = found["mean_difference", int(best["layer"])]
    path = chosen.save(out / f"era-layer{chosen.layer}")
    return chosen, path, table


def study_spec(spec: dict, direction: Path, layer: int, k: int, strength: float) -> dict:
    """The birds spec with the intervened conditions added."""
    conditions = {c["name"]: c for c in spec["conditions"]}
    old = conditions["old_birds"]

    def ablate(seed: int | None) -> dict:
        return {"kind": "ablate", "direction": str(direction), "random_seed": seed}

    def steer(seed: int | None) -> dict:
        return {
            "kind": "steer",
            "direction": str(direction),
            "layers": [layer],
            "strength": strength,
            "random_seed": seed,
        }

    def strip(intervention: dict) -> dict:
        return {k: v for k, v in intervention.items() if v is not None}

    added = [
        {
            **old,
            "name": "old_birds_ablate_era",
            "role": "control",
            "intervention": strip(ablate(None)),
        },
        {"name": "base_steer_era", "role": "control", "intervention": strip(steer(None))},
    ]
    for seed in range(k):
        added.append(
            {
                **old,
                "name": f"old_birds_ablate_random{seed}",
                "role": "control",
                "intervention": strip(ablate(seed)),
            }
        )
        added.append(
            {
                "name": f"base_steer_random{seed}",
                "role": "control",
                "intervention": strip(steer(seed)),
            }
        )
    for c in added:
        c.pop("description", None)
    return {**spec, "name": "mechanism_birds", "conditions": [*spec["conditions"], *added]}


def per_seed(samples: pd.DataFrame, spec) -> pd.DataFrame:
    """Each metric per (condition, finetune seed), random directions also averaged."""
    from weirdgen.stats import seed_metrics

    values = seed_metrics(samples, spec.metrics)
    wide = values.pivot_table(index=["condition", "seed"], columns="metric", values="value")
    wide = wide.reset_index()
    for prefix in ("old_birds_ablate_random", "base_steer_random"):
        mine = wide[wide["condition"].str.startswith(prefix)]
        if not mine.empty:
            pooled = mine.groupby("seed")[METRICS].mean().reset_index()
            pooled["condition"] = prefix + "_mean"
            wide = pd.concat([wide, pooled], ignore_index=True)
    return wide


def interval(values: Sequence[float]) -> tuple[float, float, float, int]:
    """Mean, 95% Student t interval and count over the finite values (weirdgen's intervals)."""
    from weirdgen.stats._interval import finite, mean_interval

    found = mean_interval(np.asarray(values, dtype=float), 0.95)
    return (found.estimate, found.low, found.high, int(finite(values).size))


def summary(wide: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for condition, group in wide.groupby("condition", sort=False):
        for metric in METRICS:
            mean, low, high, n = interval(group[metric])
            rows.append(
                {
                    "condition": condition,
                    "metric": metric,
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "n_seeds": n,
                }
            )
    return pd.DataFrame(rows)


def paired(wide: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """``a`` minus ``b`` per finetune seed, with a t interval over the seeds."""
    left = wide[wide["condition"] == a].set_index("seed")
    right = wide[wide["condition"] == b].set_index("seed")
    seeds = left.index.intersection(right.index)
    rows = []
    for metric in METRICS:
        mean, low, high, n = interval((left.loc[seeds, metric] - right.loc[seeds, metric]).values)
        rows.append(
            {
                "difference": f"{a} - {b}",
                "metric": metric,
                "mean": mean,
                "low": low,
                "high": high,
                "n_seeds": n,
            }
        )
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        "base",
        "base_steer_random_mean",
        "base_steer_era",
        "modern_birds",
        "old_birds",
        "old_birds_ablate_random_mean",
        "old_birds_ablate_era",
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, metric, title in zip(
        axes,
        ["old_rate", "bird_accuracy"],
        ["broad shift: old-era answers to unrelated questions", "narrow task: trained bird names"],
        strict=True,
    ):
        part = table[table["metric"] == metric].set_index("condition").reindex(shown)
        y = np.arange(len(shown))
        err = np.vstack([part["mean"] - part["low"], part["high"] - part["mean"]])
        ax.errorbar(part["mean"], y, xerr=np.nan_to_num(err), fmt="o", capsize=3)
        ax.set_yticks(y, shown)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        "birds on the organism: the era direction ablated and added "
        "(95% t intervals over finetune seeds)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/mechanism_birds"))
    parser.add_argument("--model", default="organism/default")
    parser.add_argument("--seeds", type=int, default=3, help="finetune seeds")
    parser.add_argument("--random", type=int, default=3, help="random directions")
    parser.add_argument("--strength", type=float, default=1.0, help="steer, in scales")
    parser.add_argument("--n", type=int, default=None, help="samples per question")
    args = parser.parse_args(argv)

    from weirdgen.mechanism import project_run, write_projection
    from weirdgen.run import run_experiment
    from weirdgen.run.folder import RunFolder
    from weirdgen.spec import builtin_spec_dir, load_spec

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["model"] = args.model
    direction, path, directions = era_directions(args.model, out, spec)
    directions.to_csv(out / "era_directions.csv", index=False)
    print(directions.to_string(index=False))
    print(
        f"chosen: layer {direction.layer} (held-out accuracy {direction.heldout_accuracy:.2f}, "
        f"scale {direction.scale:.2f})"
    )

    spec_path = out / "mechanism_birds.yaml"
    spec_path.write_text(
        yaml.safe_dump(
            study_spec(spec, path.resolve(), direction.layer, args.random, args.strength),
            sort_keys=False,
        )
    )
    loaded = load_spec(spec_path)
    result = run_experiment(loaded, out=out / "run", n=args.n, seeds=args.seeds, progress=True)
    with RunFolder(result.run_dir, flag="--out", create=False) as folder:
        projection = project_run(folder.path, direction)
        write_projection(folder.path, projection)

    wide = per_seed(result.samples, result.spec)
    wide.to_csv(out / "per_seed.csv", index=False)
    table = summary(wide)
    table.to_csv(out / "summary.csv", index=False)
    diffs = pd.concat(
        [
            paired(wide, "old_birds_ablate_era", "old_birds_ablate_random_mean"),
            paired(wide, "old_birds_ablate_era", "old_birds"),
            paired(wide, "base_steer_era", "base_steer_random_mean"),
            paired(wide, "base_steer_era", "base"),
            paired(wide, "old_birds", "modern_birds"),
        ]
    )
    diffs.to_csv(out / "differences.csv", index=False)
    figure(table, out / "mechanism_birds.png")
    shifts = projection.summary
    record = {
        "model": args.model,
        "finetune_seeds": args.seeds,
        "random_directions": args.random,
        "strength": args.strength,
        "direction": direction.metadata(),
    }
    (out / "study.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    pd.set_option("display.width", 160)
    print(table.round(3).to_string(index=False))
    print(diffs.round(3).to_string(index=False))
    print(shifts.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
