"""``weirdgen run``, ``list``, ``show`` and ``report``: experiments and their run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from weirdgen.errors import WeirdgenError

console = Console()
err = Console(stderr=True)


def run(
    experiment: Annotated[str, typer.Argument(help="Built-in experiment name or spec YAML path.")],
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/<experiment name>).")
    ] = None,
    n: Annotated[
        int | None, typer.Option(min=1, help="Samples per paraphrase; overrides the spec.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Base model as provider/name; overrides the spec.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run an experiment: finetune every condition and seed, sample, score, compare, report.

    Everything computed is stored in the run folder; running again reuses it, so a killed run
    resumes and a finished one costs nothing.
    """
    from weirdgen.run import run_experiment
    from weirdgen.spec import load_spec

    spec = load_spec(experiment)
    result = run_experiment(spec, out=out, n=n, model=model, progress=not quiet)
    _print_tables(result.run_dir, result.spec)
    w = result.work
    err.print(
        f"computed: {w.trained} finetunes, {w.sampled} samples, {w.scored} scores "
        f"({', '.join(f'{k} {v:.1f}s' for k, v in w.seconds.items())})"
    )
    console.print(f"report: {result.run_dir / 'report.html'}")


def list_experiments() -> None:
    """List the built-in experiments."""
    from rich.table import Table

    from weirdgen.spec import list_specs

    table = Table("experiment", "description")
    for info in list_specs():
        table.add_row(info.qualified_name, info.description)
    console.print(table)


def show(
    experiment: Annotated[str, typer.Argument(help="Built-in experiment name or spec YAML path.")],
) -> None:
    """Print an experiment's spec as YAML (conditions, seeds, recipe, questions, metrics)."""
    from weirdgen.spec import load_spec

    spec = load_spec(experiment)
    console.print(f"# {spec.source}")
    console.print(spec.source.read_text() if spec.source else "", markup=False, highlight=False)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `weirdgen run`.")],
) -> None:
    """Rebuild a run folder's report from its samples, and print its tables."""
    from weirdgen.report import write_report
    from weirdgen.spec import load_spec

    samples_path = run_dir / "samples.parquet"
    if not samples_path.is_file():
        raise WeirdgenError(
            f"{run_dir}: not a finished run folder (no samples.parquet); "
            f"run `weirdgen run EXPERIMENT --out {run_dir}` first"
        )
    spec = load_spec(run_dir / "spec.yaml")
    write_report(run_dir, spec, pd.read_parquet(samples_path))
    _print_tables(run_dir, spec)
    console.print(f"report: {run_dir / 'report.html'}")


def _print_tables(run_dir: Path, spec) -> None:
    from weirdgen.report import render_table

    summary = pd.read_csv(run_dir / "summary.csv")
    contrasts = pd.read_csv(run_dir / "contrasts.csv")
    console.print(render_table(summary, contrasts, spec))


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command("list")(list_experiments)
    app.command()(show)
    app.command()(report)
