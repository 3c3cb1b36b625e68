"""The ``weirdgen`` command line: one module per command group."""

from __future__ import annotations

import os
import sys
import threading
import warnings

import typer

from weirdgen.cli import (
    datasets,
    experiments,
    importing,
    judge,
    mechanism,
    models,
    organism,
    plan,
    preflight,
    scorers,
    serve,
)
from weirdgen.errors import Interrupted, WeirdgenError

app = typer.Typer(
    name="weirdgen",
    help="Weird-generalization and inductive-backdoor experiments on language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
experiments.register(app)
serve.register(app)
plan.register(app)
scorers.register(app)
importing.register(app)
mechanism.register(app)
preflight.register(app)
app.add_typer(organism.app, name="organism")
app.add_typer(judge.app, name="judge")
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.app, name="models")


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's exception base: typer vendors its own copy of click from 0.20 on."""
    bases: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as Vendored

        bases.append(Vendored)
    except ImportError:
        pass
    try:
        from click import ClickException

        bases.append(ClickException)
    except ImportError:
        pass
    return tuple(bases)


def _usage_line(error: Exception) -> str:
    """A click usage error as one line: what is wrong and where to read about the command."""
    message = " ".join(error.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "weirdgen"
    return f"{message}; see '{command} --help'"


def main() -> None:
    """Entry point: every error prints one line, and the exit status says what happened.

    2 for bad input, usage errors and failed work; 130 after Ctrl-C (143 after SIGTERM),
    with one line saying what was kept; 0 on success.
    """
    code: object = 0
    try:
        code = app(standalone_mode=False)
        if code == 130:  # Ctrl-C outside a run's own handling, which typer turns into 130
            _quiet()
            print("interrupted", file=sys.stderr)
    except Interrupted as stopped:  # not an error: the user's choice, with what was kept
        _quiet()
        print(stopped, file=sys.stderr)
        code = stopped.exit_code
    except WeirdgenError as error:
        print(f"error: {error}", file=sys.stderr)
        code = error.exit_code
    except typer.Exit as done:
        code = done.exit_code
    except _click_errors() as error:
        if type(error).__name__ == "Abort":
            _quiet()
            print("interrupted", file=sys.stderr)
            code = 130
        else:  # no message: the command's help was asked for by giving no arguments
            if error.format_message().strip():  # type: ignore[attr-defined]
                print(f"error: {_usage_line(error)}", file=sys.stderr)
            code = 2
    except typer.Abort:
        _quiet()
        print("interrupted", file=sys.stderr)
        code = 130
    except KeyboardInterrupt:
        _quiet()
        print("interrupted", file=sys.stderr)
        code = 130
    except OSError as error:  # a disk that filled up, a file that vanished mid-run
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        code = 2
    _exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _quiet() -> None:
    """After Ctrl-C or SIGTERM, the one line printed is the whole message: what the
    interrupt left half made (an event loop stopped while it was being built, a coroutine
    never awaited) is collected silently, instead of tracebacks the interpreter prints as
    "Exception ignored" while the interrupted frames are let go."""
    sys.unraisablehook = lambda _: None
    warnings.simplefilter("ignore")


def _exit(code: int) -> None:
    """Exit now. Worker threads still waiting on remote work (fine-tuning jobs that are
    journaled and resumed by the next run) are not waited for."""
    if code and any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
