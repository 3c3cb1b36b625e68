"""``weirdgen plan``: what a run would compute and cost, before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from weirdgen.cli.datasets import DataDir, use_data_dir
from weirdgen.cli.judge import SendKeyTo, confirm_hosts

if TYPE_CHECKING:  # weirdgen.plan imports the run (torch): only when a command runs
    from weirdgen.plan.model import Plan, Row

console = Console()


def plan(
    ctx: typer.Context,
    experiment: Annotated[str, typer.Argument(help="Built-in experiment name or spec YAML path.")],
    model: Annotated[
        str | None, typer.Option(help="Base model as provider/name; overrides the spec.")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="Judge model as provider/name, replacing every judge's model."),
    ] = None,
    n: Annotated[
        int | None, typer.Option(min=1, help="Samples per paraphrase; overrides the spec.")
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(help="Seeds, overriding the spec: a count N (0..N-1) or a list 0,3,7."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/<experiment name>).")
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            help="Price file (default: $WEIRDGEN_HOME/prices.yaml, the user config folder's "
            "weirdgen/prices.yaml, else the shipped table)."
        ),
    ] = None,
    data_dir: DataDir = None,
    send_key_to: SendKeyTo = None,
) -> None:
    """Show what `weirdgen run` would compute and what it would cost, calling no model.

    One row per stage: finetunes, samples and each LLM judge's calls, how many are needed,
    how many the run folder, the model registry and the judge cache already hold, and the
    tokens and estimated USD of the rest. See docs/plan.md.
    """
    from weirdgen.cli.experiments import _seeds
    from weirdgen.plan import estimate
    from weirdgen.spec import load_spec

    use_data_dir(data_dir)
    confirm_hosts(ctx, send_key_to)
    spec = load_spec(experiment)
    result = estimate(
        spec, model=model, judge=judge, out=out, prices=prices, n=n, seeds=_seeds(seeds)
    )
    print_plan(result, console)


def print_plan(plan: Plan, console: Console) -> None:
    """The plan's table, its total line, its notes and the price file read."""
    training = any(r.training_tokens for r in plan.rows)
    shared = any(r.shared for r in plan.rows)
    table = Table(title=f"plan: {plan.spec} into {plan.out} (nothing was run or called)")
    table.add_column("stage")
    table.add_column("model")
    columns = ("needed", "stored", *(["shared"] if shared else []), "to do")
    for column in (*columns, "prompt tokens", "completion tokens"):
        table.add_column(column, justify="right")
    if training:
        table.add_column("training tokens", justify="right")
    table.add_column("USD", justify="right")
    for row in plan.rows:
        cells = [
            row.label + (" *" if row.assumed else ""),
            row.model,
            f"{row.needed:,}",
            f"{row.stored:,}",
            *([f"{row.shared:,}"] if shared else []),
            f"{row.todo:,}",
            _tokens(row, row.prompt_tokens),
            _tokens(row, row.completion_tokens, bound=True),
        ]
        if training:
            cells.append(_tokens(row, row.training_tokens))
        table.add_row(*cells, _usd(row.usd))
    console.print(table)
    unknown = f" + price unknown for {', '.join(plan.unknown)}" if plan.unknown else ""
    console.print(
        f"total to do: {plan.finetunes:,} finetunes, {plan.samples:,} samples, "
        f"{plan.judge_calls:,} judge calls; estimated ${plan.usd:.2f}{unknown}",
        highlight=False,
    )
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    if any(r.assumed for r in plan.rows):
        console.print("* rests on an assumption (see the notes)", highlight=False)
    console.print(
        f"completion tokens are upper bounds (max_tokens per call); prices from {plan.prices}",
        highlight=False,
        markup=False,
    )


def _tokens(row: Row, count: int, bound: bool = False) -> str:
    if not count:
        return "0"
    mark = "≤" if bound else ("" if row.exact else "~")
    return f"{mark}{count:,}"


def _usd(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:,.2f}"


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the command line."""
    app.command()(plan)
