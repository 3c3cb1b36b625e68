"""An experiment repeated on several pretraining seeds of the organism: a second level of
replication.

Each pretraining seed S runs the whole experiment on ``organism/<version>@S`` into
``OUT/pretraining_seed_S/`` (a complete run folder with its own report, resumable like any
other); the pooled report in ``OUT/`` then treats the pretraining seed as the unit (see
:mod:`weirdgen.report.pooled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from weirdgen.errors import WeirdgenError
from weirdgen.organism.versions import parse_name, resolve
from weirdgen.run.folder import RunFolder, check_not_a_suite, check_run_folder
from weirdgen.run.orchestrator import RunResult, execute, prepare_run
from weirdgen.spec.models import ExperimentSpec, check_pretraining_seeds


@dataclass
class PooledRun:
    """Runs of one spec on several pretraining seeds, and the pooled report's folder."""

    out: Path
    spec: ExperimentSpec
    runs: dict[int, RunResult]


def seed_folder(out: Path, seed: int) -> Path:
    return out / f"pretraining_seed_{seed}"


def pretrained_models(spec: ExperimentSpec, model: str | None, seeds: list[int]) -> dict[int, str]:
    """``organism/<version>@S`` for each pretraining seed S of the organism ``model`` (the
    spec's by default), each checked to exist.

    Raises:
        WeirdgenError: the model is no organism version name, or a seed is not pretrained
            yet (naming `weirdgen organism pretrain --seed S`).
    """
    base = model or spec.model
    try:
        check_pretraining_seeds(base, seeds)
    except ValueError as error:
        raise WeirdgenError(f"{spec.source or spec.name}: {error}") from None
    parsed = parse_name(base.partition("/")[2])
    assert parsed is not None
    for seed in seeds:
        resolve(f"{parsed[0]}@{seed}")  # raises, naming `weirdgen organism pretrain --seed S`
    return {seed: f"organism/{parsed[0]}@{seed}" for seed in seeds}


def run_pretraining_seeds(
    spec: ExperimentSpec,
    pretraining_seeds: list[int],
    out: Path | None = None,
    model: str | None = None,
    console: Console | None = None,
    progress: bool = True,
    **overrides: Any,
) -> PooledRun:
    """Run ``spec`` once per pretraining seed, then write the pooled report into ``out``.

    Every seed's checkpoint is checked to exist before anything runs, so a missing one is
    one error naming the command that pretrains it, not a failure halfway through.

    Args:
        overrides: passed to :func:`~weirdgen.run.orchestrator.run_experiment` (n, seeds,
            judge).
    """
    from weirdgen.report.pooled import write_pooled

    console = console or Console(stderr=True)
    models = pretrained_models(spec, model, pretraining_seeds)
    out = Path(out) if out is not None else Path("runs") / spec.name
    single = spec.model_copy(update={"pretraining_seeds": None})
    single.source = spec.source
    check_not_a_suite(out)
    check_run_folder(out)
    prepared = {  # every seed's checks pass before anything is written
        seed: prepare_run(
            single,
            seed_folder(out, seed),
            model=models[seed],
            console=console,
            **overrides,
        )
        for seed in pretraining_seeds
    }
    runs = {}
    with RunFolder(out):
        for seed in pretraining_seeds:
            console.print(f"pretraining seed {seed}: {models[seed]}", highlight=False)
            runs[seed] = execute(prepared[seed], console, progress)
    pooled = PooledRun(out, runs[pretraining_seeds[0]].spec, runs)
    write_pooled(out, pooled.spec, {s: r.samples for s, r in runs.items()})
    return pooled
