"""``weirdgen scorers``: the scorer kinds a spec's ``scorers:`` entries can name."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.console import Console
from rich.table import Table

from weirdgen.errors import WeirdgenError
from weirdgen.score.registry import kinds, scorer_class
from weirdgen.spec.models import ScorerSpec

console = Console()


def scorers(
    kind: Annotated[
        str | None, typer.Argument(help="A kind to describe: its arguments and columns.")
    ] = None,
) -> None:
    """List the scorer kinds, or describe one: its arguments (the fields of its spec entry)
    and the columns it adds to every sample."""
    if kind is None:
        table = Table("kind", "what it scores", box=None)
        for name in kinds():
            table.add_row(name, _first_line(_args(name)))
        console.print(table)
        console.print("describe one with: weirdgen scorers KIND", markup=False)
        return
    args = _args(kind)
    doc = " ".join((args.__doc__ or "").replace("``", "").split())
    console.print(f"{kind}: {doc}", markup=False)
    table = Table("argument", "type", "default", "description", box=None)
    for name, field in args.model_fields.items():
        if name == "kind":
            continue
        default = "required" if field.is_required() else _shown(field.default)
        table.add_row(name, _type(field.annotation), default, field.description or "")
    console.print(table)
    example = ScorerSpec.model_construct(name="x", kind=kind)
    example._args = args.model_construct(name="x", kind=kind)
    try:
        columns = ", ".join(example.columns().values())
    except Exception:  # outputs() reads arguments the blank example lacks
        columns = "see docs/judges.md"
    console.print(f"columns for name: x -> {columns}", markup=False)


def _args(kind: str) -> type[BaseModel]:
    try:
        return scorer_class(kind).Args
    except ValueError as error:
        raise WeirdgenError(f"{error}; list them with 'weirdgen scorers'") from None


def _first_line(model: type[BaseModel]) -> str:
    doc = " ".join((model.__doc__ or "").replace("``", "").split())
    return doc.split(". ")[0].rstrip(".")


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("Literal", "one of ")


def _shown(value: Any) -> str:
    if value is PydanticUndefined:
        return ""
    return "" if value is None else repr(value)


def register(app: typer.Typer) -> None:
    app.command()(scorers)
