"""``weirdgen run``, ``list``, ``show`` and ``report``: experiments and their run folders."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console

from weirdgen.cli.datasets import DataDir, use_data_dir
from weirdgen.cli.judge import SendKeyTo, confirm_hosts
from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    from weirdgen.spec.models import ExperimentSpec

console = Console()
err = Console(stderr=True)


def run(
    ctx: typer.Context,
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
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Seeds to run, overriding the spec: a count N (seeds 0..N-1) or a list "
            "such as 0,3,7 (one seed: 3,)."
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="Judge model as provider/name, replacing every LLM judge's model."),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            min=0,
            metavar="USD",
            help="Refuse to start when the estimated cost of what is still to do (weirdgen "
            "plan) exceeds this many USD, or a model with work to do has no price.",
        ),
    ] = None,
    pretraining_seeds: Annotated[
        str | None,
        typer.Option(
            help="Organism models: repeat the run on these pretraining seeds (a count N or a "
            "list such as 0,1,2, or one seed as 2,; each must be pretrained: weirdgen "
            "organism pretrain --seed S), "
            "reported per pretraining seed and pooled; overrides the spec."
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Where finetunes, sampling and judge calls run: local, ray (a local Ray "
            "cluster) or ray:ADDRESS (a running one, e.g. ray:auto); overrides the spec's "
            "executor. The store is written by this process only; see docs/scale.md.",
        ),
    ] = None,
    data_dir: DataDir = None,
    send_key_to: SendKeyTo = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Log what the backend does: fine-tuning job states, retries, server starts.",
        ),
    ] = False,
) -> None:
    """Run an experiment: finetune every condition and seed, sample, score, compare, report.

    Everything computed is stored in the run folder; running again reuses it, so a killed run
    resumes and a finished one costs nothing.
    """
    from weirdgen.run import run_experiment
    from weirdgen.spec import load_spec
    from weirdgen.spec.load import find_spec, is_suite

    if verbose:
        from weirdgen.cli._logging import enable

        enable(err)
    with _sigterm_as_interrupt():
        use_data_dir(data_dir)
        confirm_hosts(ctx, send_key_to)
        if executor is not None:
            _check_executor(executor)
        if is_suite(find_spec(experiment)):
            if executor is not None:
                raise WeirdgenError(
                    f"--executor {executor}: a suite's members take theirs from their own spec's "
                    "executor field; set it there, or run the members one by one"
                )
            _run_suite(
                experiment, out, n, model, seeds, pretraining_seeds, judge, budget, not quiet
            )
            return
        spec = load_spec(experiment)
        if executor is not None:
            source, spec = spec.source, spec.model_copy(update={"executor": executor})
            spec.source = source
        if budget is not None:  # before anything is written
            from weirdgen.plan import check_budget, estimate

            planned = estimate(spec, model, judge, out=out, n=n, seeds=_seeds(seeds))
            check_budget(planned, budget)
            err.print(
                f"estimated ${planned.usd:.2f}, within --budget ${budget:.2f}", highlight=False
            )
        pretraining = _seeds(pretraining_seeds, "--pretraining-seeds")
        if pretraining is None:
            pretraining = spec.pretraining_seeds
        if pretraining is not None:
            _run_pooled(spec, pretraining, out, n, model, _seeds(seeds), not quiet, judge)
            return
        result = run_experiment(
            spec, out=out, n=n, model=model, seeds=_seeds(seeds), progress=not quiet, judge=judge
        )
        _print_tables(result.run_dir, result.spec, result.samples)
        w = result.work
        err.print(
            f"computed: {w.trained} finetunes"
            + (f" ({w.reused} reused from the model registry)" if w.reused else "")
            + f", {w.sampled} samples, {w.scored} scores "
            f"({', '.join(f'{k} {v:.1f}s' for k, v in w.seconds.items())})"
        )
        if w.usage.get("requests"):
            err.print(
                f"API usage: {w.usage['requests']} requests, {w.usage['prompt_tokens']} prompt "
                f"and {w.usage['completion_tokens']} completion tokens"
            )
        for name, calls in w.judged.items():
            err.print(
                f"judge {name}: {calls['made']} calls made ({calls['prompt_tokens']} prompt and "
                f"{calls['completion_tokens']} completion tokens), {calls['cached']} from the "
                "judge cache",
                highlight=False,
            )
        console.print(f"report: {result.run_dir / 'report.html'}")


def _run_pooled(
    spec: ExperimentSpec,
    pretraining: int | list[int],
    out: Path | None,
    n: int | None,
    model: str | None,
    seeds: int | list[int] | None,
    progress: bool,
    judge: str | None,
) -> None:
    """The run on each pretraining seed, then the pooled table and where the reports are."""
    from weirdgen.run.pretraining import run_pretraining_seeds

    chosen = list(range(pretraining)) if isinstance(pretraining, int) else pretraining
    pooled = run_pretraining_seeds(
        spec, chosen, out=out, model=model, n=n, seeds=seeds, progress=progress, judge=judge
    )
    console.print((pooled.out / "pooled.md").read_text(), markup=False, highlight=False)
    for seed, result in pooled.runs.items():
        console.print(f"pretraining seed {seed}: {result.run_dir / 'report.html'}")
    console.print(f"pooled report: {pooled.out / 'pooled.md'}")


def _run_suite(
    name: str,
    out: Path | None,
    n: int | None,
    model: str | None,
    seeds: str | None,
    pretraining_seeds: str | None,
    judge: str | None,
    budget: float | None,
    progress: bool,
) -> None:
    """Every member of a suite checked, then run, then the suite's tables and report."""
    from weirdgen.report.suite import terminal_tables
    from weirdgen.run.suite import load_suite, plan_suite, prepare_suite, run_suite

    suite = load_suite(name)
    chosen = _seeds(pretraining_seeds, "--pretraining-seeds")
    if isinstance(chosen, int):
        chosen = list(range(chosen))
    if budget is not None:  # before anything is written
        from weirdgen.plan import check_budget

        planned = plan_suite(suite, out, model, judge, n, _seeds(seeds))
        check_budget(planned, budget)
        err.print(f"estimated ${planned.usd:.2f}, within --budget ${budget:.2f}", highlight=False)
    prepared = prepare_suite(suite, out, model, n, _seeds(seeds), chosen, judge, err)
    result = run_suite(prepared, err, progress)
    assert result.report is not None
    console.print(terminal_tables(result.report))
    works = [w for member in result.work.values() for w in member]
    err.print(
        f"computed over {len(result.work)} experiments: {sum(w.trained for w in works)} "
        f"finetunes ({sum(w.reused for w in works)} reused from the model registry), "
        f"{sum(w.sampled for w in works)} samples, {sum(w.scored for w in works)} scores"
    )
    console.print(f"report: {result.out / 'report.html'}")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the command runs; the handler before it is
    put back after (the command may run inside another program, a test or a notebook)."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (what was kept is said, a rerun resumes), exit 143."""

    exit_code = 143


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _check_executor(text: str) -> None:
    from weirdgen.run.executors import parse_executor

    try:
        parse_executor(text)
    except ValueError as error:
        raise WeirdgenError(f"--executor {error}") from None


def _seeds(text: str | None, option: str = "--seeds") -> int | list[int] | None:
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    count = len(values) == 1 and "," not in text
    if not values or any(v < 0 for v in values) or (count and values[0] < 1):
        raise WeirdgenError(
            f"{option} {text!r}: give a count such as 3, or seeds such as 0,3,7 (one seed: 0,)"
        )
    if len(set(values)) != len(values):
        raise WeirdgenError(f"{option} {text!r}: each seed once, please")
    return values[0] if count else values


def list_experiments() -> None:
    """List the built-in experiments, then the suites (experiments run together)."""
    from rich.table import Table

    from weirdgen.spec import list_specs
    from weirdgen.spec.load import list_suites

    table = Table("experiment", "description")
    for info in list_specs():
        table.add_row(info.qualified_name, info.description)
    console.print(table)
    suites = Table("suite", "members", "description", title="suites (weirdgen run SUITE)")
    for info in list_suites():
        table_members = ", ".join(info.members or ())
        suites.add_row(f"{info.qualified_name} (suite)", table_members, info.description)
    if suites.row_count:
        console.print(suites)


def show(
    experiment: Annotated[str, typer.Argument(help="Built-in experiment name or spec YAML path.")],
) -> None:
    """Print an experiment's spec file as YAML (conditions, seeds, recipe, questions,
    metrics), as written: files it includes are not read, so it works offline."""
    from weirdgen.spec.load import find_spec

    path = find_spec(experiment).absolute()
    # Plain text, not rich: rich wraps long lines at the terminal's (or 80) columns, which
    # breaks YAML written to a file with `weirdgen show NAME > spec.yaml`.
    sys.stdout.write(f"# {path}\n")
    sys.stdout.write(path.read_text())


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `weirdgen run`.")],
) -> None:
    """Rebuild a run folder's report from its samples, and print its tables; in a suite's
    folder, rewrite the suite's report from its members' reports."""
    from weirdgen.report import write_report
    from weirdgen.report.suite import terminal_tables
    from weirdgen.run.folder import RunFolder, check_run_folder
    from weirdgen.run.suite import report_suite
    from weirdgen.spec import load_spec

    check_run_folder(run_dir, "RUN_DIR", create=False)
    suite = report_suite(run_dir)
    if suite is not None:
        console.print(terminal_tables(suite))
        console.print(f"report: {run_dir / 'report.html'}")
        return
    samples_path = run_dir / "samples.parquet"
    if not samples_path.is_file():
        raise WeirdgenError(
            f"{run_dir}: not a finished run folder (no samples.parquet); "
            f"run `weirdgen run EXPERIMENT --out {run_dir}` first"
        )
    spec = load_spec(run_dir / "spec.yaml")
    with RunFolder(run_dir, flag="RUN_DIR", create=False):
        try:
            samples = pd.read_parquet(samples_path)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise WeirdgenError(
                f"{samples_path} cannot be read ({type(error).__name__}: {error}); run "
                f"`weirdgen run {run_dir / 'spec.yaml'} --out {run_dir}` to write it again "
                "from the run's store"
            ) from error
        write_report(run_dir, spec, samples)
    _print_tables(run_dir, spec, samples)
    console.print(f"report: {run_dir / 'report.html'}")


def _print_tables(run_dir: Path, spec, samples: pd.DataFrame) -> None:
    """The summary and contrast tables, then one line per metric left (nearly) empty."""
    from weirdgen.report import render_table
    from weirdgen.stats import emptiness_warnings

    summary = pd.read_csv(run_dir / "summary.csv")
    contrasts = pd.read_csv(run_dir / "contrasts.csv")
    warnings = emptiness_warnings(samples, spec.metrics, spec.empty_by_design())
    console.print(render_table(summary, contrasts, spec, warnings=warnings))


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command("list")(list_experiments)
    app.command()(show)
    app.command()(report)
