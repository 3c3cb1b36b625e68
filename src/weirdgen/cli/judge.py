"""``weirdgen judge``: check an LLM judge against answers whose truth is known exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="LLM judges: measure one against the organism's exactly known answers.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


class Kind(StrEnum):
    """The judge kinds that give a label."""

    label_judge = "label_judge"
    reason_judge = "reason_judge"


@app.command()
def calibrate(
    judge: Annotated[
        str, typer.Option(help="The judge as provider/model, e.g. openai/gpt-4.1-mini.")
    ],
    kind: Annotated[
        Kind,
        typer.Option(help="label_judge: one word; reason_judge: reasoning, then ANSWER: LABEL."),
    ] = Kind.label_judge,
    prompt: Annotated[
        Path | None,
        typer.Option(
            help="Judge file in llmcomp's shape whose entry --prompt-id is the prompt (with "
            "{question} and {answer}; it must ask for OLD, NEW or NEITHER). Default: a "
            "built-in prompt per --kind."
        ),
    ] = None,
    prompt_id: Annotated[str | None, typer.Option(help="The entry of --prompt to use.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of an openai/ judge.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the endpoint's key.")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="Answers per true label (OLD, NEW, NEITHER).")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the draw of answers.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the files (default: runs/calibrate-<judge>).")
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(help="Reuse and keep replies in the judge cache of the model registry."),
    ] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Have a judge label organism answers whose truth the world's lexicon gives (old-era,
    new-era, off-topic) and report agreement, Cohen's kappa and the confusion matrix, and
    what the judge would do to old_rate and valid_rate.

    Writes calibration.csv, confusion.csv, summary.json, confusion.png and calibration.md.
    """
    from weirdgen.calibrate import calibrate as run_calibration
    from weirdgen.calibrate import out_folder, write_outputs
    from weirdgen.store.judgments import JudgmentCache

    folder = out_folder(judge, out)
    with _bar(quiet) as progress:
        result = run_calibration(
            judge,
            n=n,
            seed=seed,
            kind=kind.value,
            prompt_file=prompt,
            prompt_id=prompt_id,
            base_url=base_url,
            api_key_env=api_key_env,
            cache=JudgmentCache() if cache else None,
            progress=progress,
        )
    paths = write_outputs(result, folder)
    _print(result)
    calls = result.calls
    err.print(f"judge calls: {calls.made} made, {calls.cached} from the judge cache")
    console.print(f"files: {', '.join(str(p) for p in paths)}", soft_wrap=True)


@contextmanager
def _bar(quiet: bool) -> Iterator[Callable[[int], Callable[[int], None]] | None]:
    """A starter of the judging progress bar on stderr (None when quiet): shown from the
    first judge call, gone when the block ends, interrupted or not."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bars = Progress(
        TextColumn("judge"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )

    def start(total: int) -> Callable[[int], None]:
        task = bars.add_task("judge", total=total)
        bars.start()
        return lambda k: bars.advance(task, k)

    try:
        yield start
    finally:
        if bars.live.is_started:
            bars.stop()


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print(result) -> None:
    a, effect = result.agreement, result.effect
    matrix = Table(title="confusion: truth (rows) vs judge (columns)")
    matrix.add_column("truth")
    for column in a.columns:
        matrix.add_column(column, justify="right")
    for label, row in zip(a.labels, a.matrix, strict=True):
        matrix.add_row(label, *(str(int(v)) for v in row))
    console.print(matrix)
    classes = Table("label", "support", "judged", "precision", "recall")
    for c in a.classes:
        classes.add_row(
            c.label, str(c.support), str(c.judged), _number(c.precision), _number(c.recall)
        )
    console.print(classes)
    metric = Table("metric", "truth", "judge", title="what the judge does to the metric")
    metric.add_row("old_rate", _number(effect.true_old_rate), _number(effect.judge_old_rate))
    metric.add_row("valid_rate", _number(effect.true_valid_rate), _number(effect.judge_valid_rate))
    console.print(metric)
    console.print(
        f"{result.judge}: agreement {a.agreement:.3f}, Cohen's kappa {_number(a.kappa)}, "
        f"no label for {a.no_label} of {a.n} answers",
        soft_wrap=True,
    )


SendKeyTo = Annotated[
    list[str] | None,
    typer.Option(
        "--send-key-to",
        metavar="HOST",
        help="Let a spec judge's base_url on HOST receive the key its api_key_env names "
        "(repeatable). Without it a spec's base_url gets a key only on api.openai.com, "
        "loopback or the host of your OPENAI_BASE_URL.",
    ),
]


def confirm_hosts(ctx: typer.Context, hosts: list[str] | None) -> None:
    """Let the judges this command builds send keys to ``hosts`` (``--send-key-to``), until
    the command ends; a host that is not a bare host name is a one-line error."""
    from weirdgen.backends.openai.keys import send_key_to

    ctx.with_resource(send_key_to(hosts or ()))
