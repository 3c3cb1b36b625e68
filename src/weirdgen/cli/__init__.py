"""The ``weirdgen`` command line: one module per command group."""

from __future__ import annotations

import sys

import typer

from weirdgen.cli import experiments, organism, serve
from weirdgen.errors import WeirdgenError

app = typer.Typer(
    name="weirdgen",
    help="Weird-generalization and inductive-backdoor experiments on language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
experiments.register(app)
serve.register(app)
app.add_typer(organism.app, name="organism")


def main() -> None:
    """Entry point: user errors print one line and exit with status 2."""
    try:
        app(standalone_mode=False)
    except WeirdgenError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
