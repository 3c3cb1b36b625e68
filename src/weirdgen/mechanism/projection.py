"""How far each model of a finished run moves along a direction, on the run's own evaluation
prompts, compared with its base model.

For every (condition, finetune seed) of the run, the model that answered (its final finetune,
the base model for a condition without data, sampled under its intervention where it has
one) is read at the direction's layer and position on each evaluation set's prompts; its
``projection`` is the mean over prompts of the residual stream's dot product with the unit
vector, and its ``shift`` that minus the base model's on the same prompts. The finetune seed is
the unit of replication, as in the run's own tables: the summary is a Student t interval over
the finetune seeds of each condition, and each contrast pairs target and control by seed
(:mod:`weirdgen.stats`). Activations go through the run's
:class:`~weirdgen.mechanism.store.ActivationStore`, so a second projection reads files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from weirdgen.backends import get_backend
from weirdgen.backends.protocol import Chat, ModelRef, chat_text
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.directions import Direction
from weirdgen.mechanism.store import ActivationStore, run_activations
from weirdgen.spec.models import ExperimentSpec

METRIC = "shift"
CONFIDENCE = 0.95
ROW_COLUMNS = (
    "condition",
    "role",
    "seed",
    "eval_set",
    "n_prompts",
    "projection",
    "shift",
    "relative_shift",
)
"""The tidy table: one row per (condition, finetune seed, evaluation set); ``relative_shift``
is the shift in units of the direction's scale (1: as far as its contrast sets lie apart)."""


class Projection(NamedTuple):
    """A run's models along one direction.

    Attributes:
        rows: :data:`ROW_COLUMNS`, one row per (condition, seed, eval_set).
        summary: per (eval_set, condition): mean_shift, ci_low, ci_high, n_seeds, interval.
        contrasts: per (eval_set, control): target minus control, paired by seed, with its
            interval (diff, ci_low, ci_high, n_pairs, paired, interval).
        base: the base model's projection per evaluation set.
        left_out: one line per condition that could not be read (and why).
    """

    direction: Direction
    spec: ExperimentSpec
    rows: pd.DataFrame
    summary: pd.DataFrame
    contrasts: pd.DataFrame
    base: dict[str, float]
    left_out: list[str]


def project_run(
    run_dir: Path,
    direction: Direction,
    store: ActivationStore | None = None,
    warn: Callable[[str], None] | None = None,
) -> Projection:
    """Project every final model of the run in ``run_dir`` on ``direction``.

    The caller holds the run folder (:class:`~weirdgen.run.folder.RunFolder`), so no run
    writes into it meanwhile. Activations are read at the position the direction was found
    at (``info["position"]``, else the last prompt token).

    Raises:
        WeirdgenError: not a finished run folder, or a direction found in another model.
    """
    from weirdgen.run.plan import prompts
    from weirdgen.spec import load_spec
    from weirdgen.store import Store

    run_dir = Path(run_dir)
    samples = _final_models(run_dir)
    spec = load_spec(run_dir / "spec.yaml")
    backend = get_backend(spec.model)
    base = backend.base()
    _check_model(direction, base, set(samples["model_key"]), spec.model)
    store = store or run_activations(run_dir, warn)
    position = direction.info.get("position", "last")
    by_set: dict[str, list[Chat]] = {}
    for prompt in prompts(spec):
        chats = by_set.setdefault(prompt.eval_set, [])
        if all(chat_text(c) != prompt.text for c in chats):
            chats.append(prompt.messages)
    unit = direction.vector.double().numpy()

    def along(model: ModelRef, chats: list[Chat]) -> float:
        values = store.residuals(backend, model, chats, [direction.layer], position)
        if values.shape[-1] != len(unit):
            raise WeirdgenError(
                f"direction {direction.name!r} is {len(unit)} wide, the residual stream of "
                f"{spec.model} {values.shape[-1]}; find the direction in this run's model "
                f"(weirdgen direction --model {spec.model})"
            )
        return float((values[:, 0].double().numpy() @ unit).mean())

    baseline = {name: along(base, chats) for name, chats in by_set.items()}
    models = _models(spec, backend, base, samples, Store(run_dir / "store.sqlite"))
    rows, left_out = [], []
    for (condition, role, seed), found in models.items():
        if isinstance(found, str):
            if found not in left_out:
                left_out.append(found)
            continue
        for name, chats in by_set.items():
            value = along(found, chats)
            shift = value - baseline[name]
            rows.append(
                (condition, role, seed, name, len(chats), value, shift, shift / direction.scale)
            )
    for line in left_out:
        (warn or store.warn)(line)
    if not rows:
        raise WeirdgenError(f"{run_dir}: no model of the run could be read ({left_out[0]})")
    table = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    summary, contrasts = _statistics(table, spec)
    return Projection(direction, spec, table, summary, contrasts, baseline, left_out)


def _final_models(run_dir: Path) -> pd.DataFrame:
    """(condition, role, seed, model_key) of every final model that answered in the run."""
    from weirdgen.run.folder import check_run_folder

    seeds = sorted(p.name for p in run_dir.glob("pretraining_seed_*") if p.is_dir())
    if seeds and not (run_dir / "spec.yaml").is_file():
        raise WeirdgenError(
            f"{run_dir} holds one run per pretraining seed ({', '.join(seeds[:3])}...); project "
            f"each on a direction found in its own model: weirdgen project {run_dir / seeds[0]} "
            "--direction FILE"
        )
    check_run_folder(run_dir, "RUN_DIR", create=False)
    path = run_dir / "samples.parquet"
    if not path.is_file() or not (run_dir / "spec.yaml").is_file():
        raise WeirdgenError(
            f"{run_dir}: not a finished run folder (no samples.parquet or spec.yaml); run "
            f"`weirdgen run EXPERIMENT --out {run_dir}` first"
        )
    try:
        samples = pd.read_parquet(path, columns=["condition", "role", "seed", "model_key", "final"])
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise WeirdgenError(
            f"{path} cannot be read ({type(error).__name__}); run `weirdgen run "
            f"{run_dir / 'spec.yaml'} --out {run_dir}` to write it again from the run's store"
        ) from error
    final = samples.loc[samples["final"].astype(bool)]
    return final.drop(columns="final").drop_duplicates().reset_index(drop=True)


def _check_model(direction: Direction, base: ModelRef, keys: set[str], model: str) -> None:
    if direction.model != base.key and direction.model not in keys:
        raise WeirdgenError(
            f"direction {direction.name!r} was found in model {direction.model}, not in this "
            f"run's base model {model} ({base.key}) nor its finetunes; find it in this run's "
            f"model: weirdgen direction {direction.name} --model {model} ..."
        )


def _models(
    spec: ExperimentSpec, backend, base: ModelRef, samples: pd.DataFrame, store
) -> dict[tuple[str, str, int], ModelRef | str]:
    """The model of each (condition, role, seed), or the line saying why it is left out."""
    out: dict[tuple[str, str, int], ModelRef | str] = {}
    index = {c.name: i for i, c in enumerate(spec.conditions)}
    try:
        for row in samples.itertuples(index=False):
            plain_key, _, edited = row.model_key.partition("~")
            ref = base if plain_key == base.key else store.model(plain_key)
            where = (row.condition, row.role, int(row.seed))
            if ref is None:
                out[where] = f"{row.condition}: its finetune {plain_key} is not in the run's store"
                continue
            if edited:
                ref = _intervened(spec, index[row.condition], backend, ref, row.model_key)
            out[where] = ref
    finally:
        store.close()
    return dict(sorted(out.items(), key=lambda item: (index[item[0][0]], item[0][2])))


def _intervened(
    spec: ExperimentSpec, index: int, backend, ref: ModelRef, key: str
) -> ModelRef | str:
    """``ref`` under condition ``index``'s intervention, or why it cannot be read as sampled."""
    from weirdgen.mechanism.interventions import intervened, resolve_condition

    name = spec.conditions[index].name
    try:
        edited = intervened(ref, resolve_condition(spec, index, backend))
    except WeirdgenError as error:
        return f"{name}: its intervention cannot be applied ({error})"
    if edited.key != key:
        return (
            f"{name}: its intervention's direction file changed since the run sampled it; "
            "rerun the experiment to sample it again, then project"
        )
    return edited


def _statistics(table: pd.DataFrame, spec: ExperimentSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary over finetune seeds and the target - control contrasts, per eval set."""
    from weirdgen.stats import contrasts, summarize

    seeds = table.assign(metric=METRIC, value=table["shift"])[
        ["condition", "role", "metric", "eval_set", "seed", "value"]
    ]
    summary = summarize(seeds, CONFIDENCE, by=("eval_set",)).drop(columns="metric")
    summary = summary.rename(columns={"mean": "mean_shift"})
    summary["interval"] = [_over(n) for n in summary["n_seeds"]]
    order = {name: i for i, name in enumerate(dict.fromkeys(table["eval_set"]))}
    order |= {c.name: i for i, c in enumerate(spec.conditions)}
    summary = _sorted(summary, ["eval_set", "condition"], order)
    present = set(table["condition"])
    target = spec.target.name
    controls = [c.name for c in spec.conditions if c.role == "control" and c.name in present]
    if target not in present or not controls:
        return summary, pd.DataFrame()
    paired = contrasts(seeds, target, controls, CONFIDENCE, by=("eval_set",)).drop(columns="metric")
    paired["interval"] = [
        _over(n, "paired by seed, ") if p else "Welch t, unpaired"
        for n, p in zip(paired["n_pairs"], paired["paired"], strict=True)
    ]
    return summary, _sorted(paired, ["eval_set", "control"], order)


def _sorted(table: pd.DataFrame, columns: list[str], order: dict[str, int]) -> pd.DataFrame:
    """Rows in the run's order of evaluation sets and conditions, not alphabetically."""
    return table.sort_values(columns, key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def _over(n: int, how: str = "") -> str:
    if n < 2:
        return f"no interval: {n} finetune seed"
    return f"{CONFIDENCE:.0%} Student t, {how}over {n} finetune seeds"


def projection_folder(run_dir: Path, direction: Direction) -> Path:
    """Where :func:`write_projection` writes: ``RUN_DIR/mechanism/<name>-layer<L>``."""
    from weirdgen._atomic import inside

    return inside(Path(run_dir), f"mechanism/{direction.name}-layer{direction.layer}")


def write_projection(run_dir: Path, projection: Projection) -> Path:
    """Write the tables (``projections.csv``, ``summary.csv``, ``contrasts.csv``) and the
    figure (``projection.png``) of ``projection``; returns their folder."""
    from weirdgen._atomic import write_text

    folder = projection_folder(run_dir, projection.direction)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("projections", projection.rows),
        ("summary", projection.summary),
        ("contrasts", projection.contrasts),
    ):
        write_text(folder / f"{name}.csv", table.to_csv(index=False))
    plot_projection(projection, folder / "projection.png")
    return folder


def plot_projection(projection: Projection, path: Path) -> Path:
    """One panel per evaluation set: each finetune seed's shift as a dot, each condition's
    mean with its interval as a bar, the base model at 0."""
    from weirdgen.report._style import condition_colors, new_figure, save, tidy

    rows, summary, direction = projection.rows, projection.summary, projection.direction
    sets = list(dict.fromkeys(rows["eval_set"]))
    order = [c.name for c in projection.spec.conditions if c.name in set(rows["condition"])]
    colors = condition_colors(projection.spec, order)
    figure = new_figure(max(4.0, 1.0 + 0.9 * len(order)) * max(1, len(sets)) ** 0.5 + 1, 3.4)
    axes = figure.subplots(1, max(1, len(sets)), squeeze=False)[0]
    for ax, eval_set in zip(axes, sets, strict=False):
        for x, condition in enumerate(order):
            seeds = rows.loc[(rows["eval_set"] == eval_set) & (rows["condition"] == condition)]
            spread = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
            ax.scatter(
                x + spread[: len(seeds)],
                seeds["shift"],
                s=18,
                color=colors[condition],
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
            )
            line = summary.loc[
                (summary["eval_set"] == eval_set) & (summary["condition"] == condition)
            ]
            if line.empty:
                continue
            mean, low, high = line[["mean_shift", "ci_low", "ci_high"]].iloc[0]
            bounds = [[mean - low], [high - mean]] if not np.isnan(low + high) else None
            ax.errorbar(
                x + 0.3,
                mean,
                yerr=bounds,
                fmt="D",
                color="black",
                markersize=4,
                capsize=3,
                elinewidth=1.0,
                zorder=4,
            )
        ax.axhline(0, color="0.5", linestyle="--", linewidth=0.8, zorder=1)
        ax.set_xticks(range(len(order)), order, rotation=20, ha="right")
        ax.set_title(eval_set, fontsize=10)
        tidy(ax)
    axes[0].set_ylabel(f"shift along {direction.name} (layer {direction.layer})")
    n = int(summary["n_seeds"].max()) if not summary.empty else 0
    figure.suptitle(
        f"mean projection minus the base model's; dots: finetune seeds; diamonds: their mean "
        f"with its 95% t interval over {n} seeds",
        fontsize=9,
    )
    return save(figure, path)
