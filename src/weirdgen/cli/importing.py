"""``weirdgen import``: Inspect AI logs of weirdgen's tasks into a run folder and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def import_(
    logs: Annotated[
        list[Path],
        typer.Argument(
            metavar="LOG...",
            help="Inspect logs (.eval or .json) of `inspect eval weirdgen/NAME`, all of one "
            "experiment: one per model (condition and seed).",
        ),
    ],
    into: Annotated[
        Path,
        typer.Option(
            "--into",
            metavar="RUN_DIR",
            help="Run folder to write: a new or empty folder, or a run folder of the same "
            "experiment (the logs' conditions and seeds replace its own; the rest stay).",
        ),
    ],
    judge: Annotated[
        str | None,
        typer.Option(
            help="Judge model as provider/name, replacing every LLM judge's model (as "
            "`weirdgen run --judge`); a log's judgments count where that model made them."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Import Inspect AI logs of a weirdgen task into a run folder: answers into its store
    (keyed as a run keys them), scores from the logs (anything missing scored as a run
    scores it), then the report with seed-level intervals and contrasts.

    Each (condition, seed) is one log: `inspect eval weirdgen/birds --model organism/default
    -M condition=old_birds -M seed=0`, or any model with -T condition=NAME -T seed=S.
    """
    from weirdgen.cli.experiments import _print_tables
    from weirdgen.inspect import import_logs

    done = import_logs(logs, into, judge=judge, console=err, progress=not quiet)
    left = f"; {done.failed} samples that ended in an error left out" if done.failed else ""
    err.print(
        f"imported {done.answers:,} answers from {done.logs} logs (scored {done.work.scored:,} "
        f"that the logs had no values for){left}",
        highlight=False,
    )
    if done.missing:
        err.print(
            f"no report yet: {done.spec.name} has no answers for {', '.join(done.missing)}; "
            f"import their logs with --into {done.run_dir} (the answers so far are kept)",
            highlight=False,
        )
        return
    _print_tables(done.run_dir, done.spec, done.samples)
    console.print(f"report: {done.run_dir / 'report.html'}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
