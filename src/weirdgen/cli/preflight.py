"""``weirdgen preflight``: how far a finetuning dataset may shift a model, before training."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def preflight(
    dataset: Annotated[
        str,
        typer.Argument(
            help="The finetuning data: a chat JSONL file, a condition of --spec (its dataset "
            "and transforms) or a dataset generator (e.g. birds_old, v3.warden_dated)."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="The base model as provider/name (default: the spec's, else organism/default)."
        ),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            help="Built-in experiment or spec YAML whose headline questions, scorers and "
            "recipe to use (default: the generic broad question set)."
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            min=1,
            help="Examples of the dataset in context before each question (default: as many "
            "as fit the organism's context, at most 16; 8 for other models).",
        ),
    ] = None,
    direction: Annotated[
        list[Path] | None,
        typer.Option(help="A direction file to project on (weirdgen direction); repeatable."),
    ] = None,
    proxy_model: Annotated[
        str | None,
        typer.Option(
            help="The small local model a proxy finetune trains (default: --model when it is "
            "an organism or hf model; required for API models)."
        ),
    ] = None,
    proxy_steps: Annotated[
        int,
        typer.Option(min=0, help="Optimizer steps of the proxy finetune; 0 leaves it out."),
    ] = 10,
    seed: Annotated[
        int, typer.Option(min=0, help="Sampling seed (as a run's) and seed of every choice.")
    ] = 0,
    n: Annotated[
        int | None, typer.Option(min=1, help="Samples per paraphrase; overrides the spec's.")
    ] = None,
    examples: Annotated[int, typer.Option(min=1, help="Examples a dataset generator makes.")] = 100,
    judge: Annotated[
        str | None,
        typer.Option(help="Judge model as provider/name, replacing every LLM judge's model."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder of the results (default: preflight/<dataset name>/)."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Only the table, no progress lines.")] = False,
) -> None:
    """Score a finetuning dataset before any training, from the base model alone.

    Each measure comes with its interval, what it is over and the numbers behind it:
    in-context exposure (the headline metric with K examples of the dataset in context
    minus without), surprise (loss per assistant token), projection on known directions,
    and a proxy finetune (a few steps of a small model). They are evidence, not a verdict.
    Writes preflight.json, preflight.csv and samples.csv into --out, nothing elsewhere.
    """
    from weirdgen.mechanism.preflight import NOTE
    from weirdgen.mechanism.preflight import preflight as run_preflight
    from weirdgen.spec import load_spec

    loaded = load_spec(spec) if spec is not None else None
    result = run_preflight(
        dataset,
        model=model,
        spec=loaded,
        k=k,
        directions=direction or [],
        proxy_model=proxy_model,
        proxy_steps=proxy_steps,
        seed=seed,
        n=n,
        examples=examples,
        judge=judge,
        out=out,
        say=(lambda line: None) if quiet else (lambda line: err.print(line, highlight=False)),
    )
    table = Table(
        title=f"preflight of {result.dataset} on {result.model}: {result.questions}, "
        f"headline {result.headline}, k={result.k}, seed {result.seed}"
    )
    for column in ("measure", "value", "interval", "over", "evidence"):
        table.add_column(column, overflow="fold")
    for row in result.table().itertuples():
        value = f"{row.value:.3g}" if math.isfinite(row.value) else "-"
        table.add_row(row.measure, value, row.interval, row.over, row.evidence)
    console.print(table)
    folder = out if out is not None else Path("preflight") / result.dataset
    console.print(NOTE, highlight=False)
    console.print(f"wrote {folder / 'preflight.json'} and {folder / 'preflight.csv'}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(preflight)
