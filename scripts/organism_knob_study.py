"""Competing explanations, paired by pretraining seed: does the narrow explanation change how
the base organism reads an old bird name in context, and does it change how far finetuning
on old bird names shifts the organism to the old era?

Old bird names have two explanations in the organism's world: the old era, and birders
(modern people who name birds the old way; the ``birders`` knob is their corpus share). Each
pretraining seed is pretrained once per birders share on the full world of ``--version``
with its own recipe (the pairing: the same seed with and without the narrow explanation),
kept in OUT/checkpoints and reused on a rerun. On every checkpoint the study measures

- the in-context shift, exactly from answer probabilities on the base checkpoint: the
  old-era share of the mass on known answers to an unrelated question asked after one
  birder-like turn ("name a bird ." answered with an old name), minus the same after a
  modern name; averaged over every bird name, pretraining wording and era topic;
- the finetuned shift, by running the birds experiment (``--spec``) on the checkpoint
  (OUT/SPEC/runs, reused on a rerun): the target's headline rate (finetuned on old names)
  minus the finetuned control's (modern names), each the mean over finetune seeds.

Into OUT/SPEC (SPEC the spec's name, so that a second spec, e.g. another finetuning dose,
reuses the same checkpoints) it writes knob_study.csv (one row per share and pretraining
seed), knob_study_paired.csv and knob_study.md (each measure per share, and the paired
differences, each higher share minus the lowest share for the same seed, with 95% Student
t intervals over pretraining seeds; the sentences that say what they show are generated
from the numbers) and knob_study.png (one line per pretraining seed joining its settings,
both measures side by side).

    python scripts/organism_knob_study.py --out runs/knob_study
    python scripts/organism_knob_study.py --out runs/knob_v2 --version v2 --seeds 0-7
    python scripts/organism_knob_study.py --out runs/knob_v2 --version v2 --seeds 0-7 \
        --spec my_birds_lr1e-4.yaml   # another dose on the same checkpoints
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from weirdgen.errors import WeirdgenError
from weirdgen.organism.checkpoint import Organism
from weirdgen.spec import ExperimentSpec

CONFIDENCE = 0.95
MEASURES = {
    "context_shift": "in-context shift (base checkpoint, exact)",
    "finetuned_shift": "finetuned shift (target minus control)",
}
"""The two paired measures, each a difference of old-era shares on one checkpoint."""


class Reading(NamedTuple):
    """Old-era shares of the mass on known answers to unrelated questions, base checkpoint."""

    after_old_bird: float  # one old bird name earlier in the chat
    after_modern_bird: float  # one modern bird name earlier in the chat
    plain: float  # the question alone
    bird_old_prior: float  # old share of bird names for the finetuning prompt itself


DEFAULT = "default"
"""The share ``--shares`` may name as ``default``: the version's own corpus, whose
checkpoints are the version's seeds (``organism/v3@S``), shared with every other use."""


def default_share(version: str) -> float:
    """The birders share of ``version``'s own corpus (no knob)."""
    from weirdgen.organism.worlds import version_world

    return float(version_world(version, {}).mix.get("birds.birders", 0.0))


def parse_shares(text: str, version: str) -> list[tuple[float, bool]]:
    """``0,0.08`` or ``default,0.08``: each share, and whether it is the version's own."""
    shares = []
    for part in text.split(","):
        part = part.strip()
        if part == DEFAULT:
            shares.append((default_share(version), True))
            continue
        try:
            shares.append((float(part), False))
        except ValueError:
            raise WeirdgenError(
                f"--shares {text}: {part!r} is neither a share nor 'default'; "
                "write e.g. 0,0.08 or default,0.08"
            ) from None
    return sorted(set(shares))


def check_own_recipe(steps: int | None) -> None:
    """Refuse ``--steps`` beside ``default``: the version's seeds have the version's recipe."""
    if steps is not None:
        raise WeirdgenError(
            "--shares default with --steps: the version's own seeds have the version's "
            "recipe; give numeric shares to pretrain at another number of steps"
        )


def version_seed(version: str, seed: int, steps: int | None) -> Path:
    """The version's own checkpoint of ``seed`` (the corpus with no knob): the shipped one,
    or the one `weirdgen organism pretrain --seed S` made, pretrained there when missing."""
    from weirdgen.organism.pretrain import pretrain_checkpoint, recipe
    from weirdgen.organism.versions import SHIPPED_SEED, pretrained_folder, shipped_folder

    check_own_recipe(steps)
    shipped = shipped_folder(version)
    if seed == SHIPPED_SEED and (shipped / "manifest.json").is_file():
        return shipped
    folder = pretrained_folder(version, seed)
    if not (folder / "manifest.json").is_file():
        print(f"pretraining {version}@{seed} (the version's own corpus)", file=sys.stderr)
        pretrain_checkpoint(folder, recipe(version, seed, None), version=version)
    return folder


def checkpoint(out: Path, version: str, share: float, seed: int, steps: int | None) -> Path:
    """The checkpoint of ``seed`` at birders ``share``: reused when OUT holds it already
    (pretrained with the same version, share, seed and steps), pretrained otherwise."""
    from weirdgen.organism.pretrain import pretrain_checkpoint, recipe

    folder = out / "checkpoints" / f"birders={share:g}@{seed}"
    config = recipe(version, seed, steps)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        found = json.loads(manifest.read_text())
        asked = (version, {"birders": share}, config.to_dict())
        if (found.get("version", "v1"), found.get("knobs"), found.get("pretrain")) != asked:
            raise WeirdgenError(
                f"{folder}: pretrained with another version, share, seed or number of steps "
                f"({found.get('version')}, knobs {found.get('knobs')}, "
                f"{found.get('pretrain', {}).get('steps')} steps); give another --out"
            )
        return folder
    print(f"pretraining {folder.name} ({version}, {config.steps} steps)", file=sys.stderr)
    pretrain_checkpoint(folder, config, version=version, knobs={"birders": share})
    return folder


def in_context(org: Organism, names: int | None = None) -> Reading:
    """How a base organism reads one bird name earlier in the chat (exact); ``names``
    (default: all) spread evenly over the world's list of bird names."""
    from weirdgen.organism.datasets import BIRD_PROMPT
    from weirdgen.organism.infer import continuation_logprobs
    from weirdgen.organism.tokenizer import ASSISTANT, BOS, EOT, USER

    tok, birds, topics = org.tokenizer, org.world.birds, org.world.era_topics

    def old_share(prefixes: list[list[str]], answers: Sequence[tuple[str, ...]]) -> float:
        """Mean over prefixes and their answer sets of old mass / (old + new mass)."""
        rows, conts, sizes = [], [], []
        for prefix, (old, new) in zip(prefixes, answers, strict=True):
            for answer in (*old, *new):
                rows.append(tok.ids(prefix))
                conts.append(tok.encode(answer) + [tok.stoi[EOT]])
            sizes.append(len(old))
        probs = in_chunks(lambda a, b: continuation_logprobs(org.model, a, b), rows, conts)
        shares, at = [], 0
        for (old, new), n_old in zip(answers, sizes, strict=True):
            mass = probs[at : at + len(old) + len(new)]
            total = mass.sum()
            shares.append(mass[:n_old].sum() / total if total > 0 else 0.5)
            at += len(old) + len(new)
        return float(np.mean(shares))

    def after(all_names: tuple[str, ...]) -> float:
        step = max(1, len(all_names) // (names or len(all_names)))
        prefixes, answers = [], []
        for wording in birds.questions:
            for name in all_names[::step][: names or None]:
                turn = [USER, *tok.split(wording), ASSISTANT, *tok.split(name), EOT]
                for topic in topics:
                    question = tok.split(topic.questions[0])
                    prefixes.append([BOS, *turn, USER, *question, ASSISTANT])
                    answers.append((topic.old, topic.new))
        return old_share(prefixes, answers)

    plain = [[BOS, USER, *tok.split(t.questions[0]), ASSISTANT] for t in topics]
    bird = [[BOS, USER, *tok.split(BIRD_PROMPT), ASSISTANT]]
    return Reading(
        after_old_bird=after(birds.old),
        after_modern_bird=after(birds.new),
        plain=old_share(plain, [(t.old, t.new) for t in topics]),
        bird_old_prior=old_share(bird, [(birds.old, birds.new)]),
    )


def stored_reading(folder: Path, path: Path, names: int | None) -> Reading:
    """:func:`in_context` of ``folder``, kept in ``path`` and reused while the checkpoint
    (its manifest) and ``names`` are the same."""
    key = {
        "manifest_sha256": hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest(),
        "probe_names": names,
    }
    try:
        found = json.loads(path.read_text())
        if found["key"] == key:
            return Reading(**found["reading"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not stored yet, or unreadable: measure again
    from weirdgen.organism.checkpoint import load_organism

    reading = in_context(load_organism(folder), names)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"key": key, "reading": reading._asdict()}, indent=1) + "\n")
    partial.replace(path)
    return reading


def in_chunks(score, rows: list, conts: list, size: int = 512) -> np.ndarray:
    """``score(rows, conts).exp()`` in chunks of ``size`` pairs, as one array."""
    parts = [
        score(rows[i : i + size], conts[i : i + size]).exp().numpy()
        for i in range(0, len(rows), size)
    ]
    return np.concatenate(parts)


def finetuned(folder: Path, spec: ExperimentSpec, run: Path, seeds: str, n: int | None) -> dict:
    """Run the birds experiment on ``folder``; the target's and finetuned control's metrics,
    each the mean over finetune seeds, and the shift of the headline metric."""
    from weirdgen import run_experiment
    from weirdgen.stats import seed_metrics

    result = run_experiment(
        spec,
        out=run,
        n=n,
        model=f"organism/{folder.resolve()}",
        seeds=int(seeds) if seeds.isdigit() else _seed_list(seeds),
        progress=False,
    )
    target, control = arms(spec)
    per_seed = seed_metrics(result.samples, spec.metrics)
    means = per_seed.groupby(["condition", "metric"])["value"].mean()
    headline = spec.headline.name
    row = {f"{target}.{m}": means.get((target, m), np.nan) for m in per_seed["metric"].unique()}
    row[f"{control}.{headline}"] = means.get((control, headline), np.nan)
    row["finetuned_shift"] = row[f"{target}.{headline}"] - row[f"{control}.{headline}"]
    row["finetune_seeds"] = int(per_seed.loc[per_seed["condition"] == target, "seed"].nunique())
    return row


def default_spec(version: str) -> Path:
    """The built-in ``organism/birds`` spec: its datasets and lexicon are version 1's eras
    and birds, which every version's world holds, and the study runs it on each checkpoint
    by name, so it serves every version (``--spec`` names another, e.g. another dose)."""
    from weirdgen.spec import list_specs

    del version  # every version runs the same built-in spec
    found = [info.path for info in list_specs() if (info.group, info.name) == ("organism", "birds")]
    if not found:
        raise WeirdgenError("the built-in organism/birds spec is missing; pass --spec PATH")
    return found[0]


def arms(spec: ExperimentSpec) -> tuple[str, str]:
    """The spec's target and its first finetuned control (a control with a dataset)."""
    target = [c.name for c in spec.conditions if c.role == "target"]
    control = [c.name for c in spec.conditions if c.role == "control" and c.dataset]
    if not target or not control:
        raise WeirdgenError(
            f"spec {spec.name}: the study needs a target and a finetuned control (a control "
            "with a dataset), as the birds spec has old_birds and modern_birds"
        )
    return target[0], control[0]


def interval(
    values: Sequence[float], bounds: tuple[float, float] = (-1, 1)
) -> tuple[float, float, float, int]:
    """Mean with its Student t interval over the values (NaN dropped), clipped to ``bounds``
    (where the true mean lies: a rate in [0, 1], a difference of rates in [-1, 1]); NaN
    bounds for one value."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan, 0
    if len(x) == 1 or np.all(x == x[0]):
        low = high = x[0] if len(x) > 1 else np.nan
        return float(x.mean()), low, high, len(x)
    half = stats.t.ppf((1 + CONFIDENCE) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    low, high = np.clip([x.mean() - half, x.mean() + half], *bounds)
    return float(x.mean()), float(low), float(high), len(x)


def paired(table: pd.DataFrame) -> pd.DataFrame:
    """Per measure and higher share: the same seed's value minus its value at the lowest
    share, with the t interval over the seeds that have both."""
    low = table["share"].min()
    base = table.loc[table["share"] == low].set_index("seed")
    rows = []
    for share in sorted(table.loc[table["share"] > low, "share"].unique()):
        high = table.loc[table["share"] == share].set_index("seed")
        seeds = base.index.intersection(high.index)
        for measure in [*MEASURES, "bird_old_prior"]:
            diff = high.loc[seeds, measure] - base.loc[seeds, measure]
            mean, lo, hi, n = interval(diff, (-2, 2) if measure in MEASURES else (-1, 1))
            rows.append(
                {
                    "measure": measure,
                    "share": share,
                    "from_share": low,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_seeds": n,
                    "n_below_0": int((diff < 0).sum()),
                }
            )
    return pd.DataFrame(rows)


def verdict(row: pd.Series | dict, what: str, unit: str) -> str:
    """One sentence on whether an interval lies above 0, below 0 or across it."""
    cell = f"{row['mean']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
    n = int(row["n_seeds"])
    if n < 2 or np.isnan(row["ci_low"]):
        return f"{what}: {cell}; {n} {unit} with a value, too few for an interval."
    if row["ci_low"] > 0:
        return f"{what} is above 0: {cell} over {n} {unit}."
    if row["ci_high"] < 0:
        return f"{what} is below 0: {cell} over {n} {unit}."
    return (
        f"{what} is not distinguishable from 0: {cell} over {n} {unit} "
        "(the interval holds 0; values as large as its ends are not ruled out)."
    )


def summary_text(table: pd.DataFrame, diffs: pd.DataFrame, spec: str) -> str:
    """The Markdown summary: every number comes from ``table`` and ``diffs``."""
    shares = sorted(table["share"].unique())
    level = f"{CONFIDENCE:.0%}"
    lines = [
        "# Competing explanations: birders share, paired by pretraining seed",
        "",
        f"Spec: `{spec}`. Pretraining seeds: {sorted(map(int, table['seed'].unique()))}. "
        "Intervals: "
        f"{level} Student t over pretraining seeds (each seed's finetuned figures are the "
        "mean over its finetune seeds).",
        "",
        "| measure | " + " | ".join(f"birders {s:.3g}" for s in shares) + " |",
        "|---|" + "---|" * len(shares),
    ]
    columns = {
        **MEASURES,
        "after_old_bird": "in context: old share after an old bird name",
        "after_modern_bird": "in context: old share after a modern bird name",
        "plain": "in context: old share, question alone",
        "bird_old_prior": "prior: old share of bird names (finetuning prompt)",
    }
    columns |= {c: f"finetuned: {c}" for c in table.columns if "." in c}
    for column, label in columns.items():
        bounds = (-1, 1) if column in MEASURES else (0, 1)
        cells = [interval(table.loc[table["share"] == s, column], bounds) for s in shares]
        lines.append(f"| {label} | " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "## Paired differences (same pretraining seed)",
        "",
        "| measure | shares | mean | 95% CI | seeds below 0 |",
        "|---|---|---|---|---|",
    ]
    for _, d in diffs.iterrows():
        lines.append(
            f"| {d['measure']} | {d['share']:.3g} − {d['from_share']:.3g} | "
            f"{d['mean']:+.3f} | [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] | "
            f"{d['n_below_0']:.0f} of {d['n_seeds']:.0f} |"
        )
    lines += ["", "## What the numbers show", ""]
    levels = {}
    for share in shares:
        for measure, label in MEASURES.items():
            mean, low, high, n = interval(table.loc[table["share"] == share, measure])
            levels[share, measure] = {"mean": mean, "ci_low": low, "ci_high": high, "n_seeds": n}
            what = f"The {label.split(' (')[0]} at birders {share:.3g}"
            lines.append("- " + verdict(levels[share, measure], what, "pretraining seeds"))
    for share in shares[1:]:
        of = diffs.loc[diffs["share"] == share].set_index("measure")
        change = f"from birders {shares[0]:.3g} to {share:.3g}"
        lines += [
            "- "
            + verdict(
                of.loc[m],
                f"The change in the {MEASURES[m].split(' (')[0]} {change}",
                "paired seeds",
            )
            for m in MEASURES
        ]
        prior = "The change in the base's prior on old bird names for the finetuning prompt"
        lines.append(
            "- "
            + verdict(of.loc["bird_old_prior"], f"{prior} {change}", "paired seeds")
            + " A larger prior leaves the same finetuning data less to update."
        )
        dissociated = (
            of.loc["context_shift", "ci_high"] < 0
            and levels[share, "finetuned_shift"]["ci_low"] > 0
        )
        lines.append(
            f"- The dissociation (birders at {share:.3g} lower the in-context reading of an old "
            "bird name, yet finetuning on old bird names still shifts the organism to the old "
            f"era) is {'shown' if dissociated else 'not shown'} by these intervals."
        )
    return "\n".join(lines) + "\n"


def _cell(found: tuple[float, float, float, int]) -> str:
    mean, low, high, _ = found
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]" if not np.isnan(low) else f"{mean:.3f}"


def figure(table: pd.DataFrame, path: Path) -> None:
    """Both measures side by side; one line per pretraining seed across its settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = sorted(table["share"].unique())
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(9, 4), sharey=True)
    for ax, (measure, label) in zip(axes, MEASURES.items(), strict=True):
        for _, rows in table.sort_values("share").groupby("seed"):
            x = [shares.index(s) for s in rows["share"]]
            ax.plot(x, rows[measure], "-o", color="C7", alpha=0.6, lw=1, ms=4)
        for i, share in enumerate(shares):
            mean, low, high, _ = interval(table.loc[table["share"] == share, measure])
            yerr = [[mean - low], [high - mean]] if not np.isnan(low) else None
            ax.errorbar(i + 0.12, mean, yerr=yerr, fmt="s", color="C3", capsize=4)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(shares)), [f"{s:.3g}" for s in shares])
        ax.set_xlabel("birders share in pretraining")
        ax.set_title(label, fontsize=10)
    axes[0].set_ylabel("old-era share: old bird names minus modern ones")
    fig.suptitle("Grey: one pretraining seed; red: mean with 95% t interval", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _seed_list(text: str) -> list[int]:
    """``0,1,2``, ``0-5`` or a mix of both, as a list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="study folder (reused)")
    parser.add_argument("--version", default="v3", help="organism version (v2, v3)")
    parser.add_argument("--seeds", default="0-5", help="pretraining seeds: 0-5 or 0,2,4")
    parser.add_argument(
        "--shares",
        default="0,0.08",
        help="birders shares, comma-separated; 'default' is the version's own corpus and its "
        "seeds (organism/v3@S), e.g. default,0.08",
    )
    parser.add_argument("--steps", type=int, help="pretraining steps (default: the recipe's)")
    parser.add_argument("--finetune-seeds", default="3", help="count N or list, as run --seeds")
    parser.add_argument(
        "--spec", help="birds experiment, name or path (default: the version's built-in one)"
    )
    parser.add_argument("--n", type=int, help="samples per paraphrase (default: the spec's)")
    parser.add_argument(
        "--probe-names",
        type=int,
        help="bird names of each era the in-context probe puts in the chat (default: all)",
    )
    args = parser.parse_args(argv)
    try:
        return study(args)
    except WeirdgenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def study(args: argparse.Namespace) -> int:
    from weirdgen.organism.versions import check_version

    check_version(args.version, f"--version {args.version}")
    from weirdgen import load_spec

    spec = load_spec(args.spec or default_spec(args.version))
    arms(spec)
    results = args.out / spec.name
    shares = parse_shares(args.shares, args.version)
    if any(own for _, own in shares):
        check_own_recipe(args.steps)  # before anything is written
    if len(shares) < 2:
        raise WeirdgenError(f"--shares {args.shares}: give at least two shares to pair")
    results.mkdir(parents=True, exist_ok=True)
    rows = []
    for share, own in shares:
        for seed in _seed_list(args.seeds):
            if own:
                folder, label = version_seed(args.version, seed, args.steps), f"default@{seed}"
            else:
                folder = checkpoint(args.out, args.version, share, seed, args.steps)
                label = folder.name
            stored = args.out / "in_context" / f"{label}.json"
            reading = stored_reading(folder, stored, args.probe_names)
            ft = finetuned(folder, spec, results / "runs" / label, args.finetune_seeds, args.n)
            rows.append(
                {
                    "share": share,
                    "default": own,
                    "seed": seed,
                    **reading._asdict(),
                    "context_shift": reading.after_old_bird - reading.after_modern_bird,
                    **ft,
                }
            )
    table = pd.DataFrame(rows)
    table.to_csv(results / "knob_study.csv", index=False)
    diffs = paired(table)
    diffs.to_csv(results / "knob_study_paired.csv", index=False)
    text = summary_text(table, diffs, str(spec.source or spec.name))
    (results / "knob_study.md").write_text(text)
    figure(table, results / "knob_study.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
