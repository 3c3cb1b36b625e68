"""What transform and variable models share: strict fields, one-key kinds, template checks."""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from weirdgen.data.transforms.patterns import PatternError, compile_pattern
from weirdgen.errors import WeirdgenError

VarName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        max_length=64,
        description="A template variable's name: letters, digits and '_', not starting with "
        "a digit; written {name} in templates.",
    ),
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TransformError(WeirdgenError, ValueError):
    """A transform cannot apply: one line naming the transform's field path and the fix.

    It is also a ``ValueError``, so a pydantic validator may let it through as a field error.
    """


class Strict(BaseModel):
    """Unknown keys are errors. Schemas are built on first use, not at import: ``Mix`` refers
    to ``weirdgen.spec.models.DatasetRef`` and ``weirdgen.spec`` imports this package."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        populate_by_name=True,
        serialize_by_alias=True,
        defer_build=True,
    )


class Kind(Strict):
    """The settings of one kind of transform or variable; ``key`` is its name in YAML."""

    key: ClassVar[str]


class OneOf(Strict):
    """A one-key mapping whose key names the kind and whose value holds its settings.

    In YAML ``- take: {n: 100}``; in Python the kind's model may stand for the mapping
    (``Take(n=100)`` where a ``Transform`` is expected). Dumps to the same one-key mapping.
    """

    @model_validator(mode="before")
    @classmethod
    def _from_kind(cls, data: Any) -> Any:
        if isinstance(data, Kind) and data.key in cls.model_fields:
            return {data.key: data}
        if isinstance(data, str) and data in cls.model_fields:
            return {data: {}}
        if isinstance(data, dict):
            empty = [
                key for key, value in data.items() if value is None and key in cls.model_fields
            ]
            if empty:
                raise ValueError(f"{empty[0]!r} has no settings; write its fields under it")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> OneOf:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            kinds = ", ".join(type(self).model_fields)
            got = "none" if not given else " and ".join(given)
            raise ValueError(f"give exactly one of {kinds}; got {got}")
        return self

    @property
    def kind(self) -> str:
        """The name of the kind given."""
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def settings(self) -> Any:
        """The kind's settings (a ``Kind`` model, or a list for a ``choice`` variable)."""
        return getattr(self, self.kind)

    @model_serializer(mode="wrap")
    def _only_the_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if key == self.kind}


def template_fields(template: str) -> list[str]:
    """The variable names ``{name}`` in a template, in order.

    Raises:
        ValueError: a brace that is not a variable (``{{`` and ``}}`` write literal braces),
            a positional ``{}``, or an attribute or index (``{a.b}``, ``{a[0]}``).
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(
            f"{error} in template {template!r}; write {{{{ and }}}} for literal braces"
        ) from None
    names = []
    for _, field, spec, _conversion in parts:
        if field is None:
            continue
        if not _NAME.fullmatch(field):
            raise ValueError(
                f"{{{field}}} in template {template!r} is not a variable name; write {{name}} "
                "with letters, digits and '_' ({{ and }} for literal braces)"
            )
        if "{" in (spec or ""):
            raise ValueError(f"{{{field}:{spec}}} nests a variable in a format; remove it")
        names.append(field)
    return names


def checked_pattern(pattern: str) -> str:
    """``pattern`` if it compiles as a Python regular expression, else a ValueError."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        raise ValueError(
            f"pattern {pattern!r} is not a valid regular expression: {error}"
        ) from None
    return pattern
