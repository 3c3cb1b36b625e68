"""``weirdgen models``: the finetunes in the model registry, and small models to fetch."""

from __future__ import annotations

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
