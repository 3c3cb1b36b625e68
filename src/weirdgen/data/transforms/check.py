"""Checks of a transform list that need no data: variables declared before use, and once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from pydantic import ValidationError

from weirdgen.data.transforms._base import Kind, TransformError, template_fields
from weirdgen.data.transforms.models import Drop, Mix, Prefix, Shuffle, Suffix, System, Transform


def check_transforms(
    transforms: Sequence[Transform | Kind | dict], where: str = "transforms"
) -> None:
    """Check what can be checked before any data is read: each transform's fields, every
    variable a template, shuffle or other variable uses declared before it and only once,
    and every template a drop names added earlier.

    Raises:
        TransformError: one line naming the field path and the fix.
    """
    checked(transforms, where)


def checked(transforms: Sequence[Transform | Kind | dict], where: str) -> list[Transform]:
    """``transforms`` as ``Transform`` models, checked as ``check_transforms`` says."""
    steps = []
    for index, transform in enumerate(transforms):
        try:
            steps.append(Transform.model_validate(transform))
        except ValidationError as error:
            raise TransformError(f"{where}[{index}]{_described(error)}") from None
    _check_scope(steps, where)
    return steps


def _described(error: ValidationError) -> str:
    """``.field.path: problem; fix`` for the first error of a transform's validation."""
    first = error.errors(include_url=False)[0]
    loc = first["loc"]
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc)
    message = re.sub(r"^(Value error|Assertion failed), ", "", first["msg"])
    if first["type"] == "extra_forbidden" and len(loc) == 1:
        message = f"unknown transform {loc[0]!r}; the kinds are {', '.join(Transform.model_fields)}"
    elif first["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}; remove it or fix its spelling"
    elif first["type"] == "missing":
        message = f"required field is missing; add {loc[-1]!r}"
    return f"{path}: {message}"


def _check_scope(steps: list[Transform], where: str) -> tuple[dict[str, str], set[str]]:
    declared: dict[str, str] = {}
    templates: set[str] = set()
    for index, step in enumerate(steps):
        here = f"{where}[{index}].{step.kind}"
        spec = step.settings
        if isinstance(spec, Prefix | Suffix | System):
            for name, variable in spec.variables.items():
                if name in declared:
                    raise TransformError(
                        f"{here}.variables.{name}: {name!r} is already declared by "
                        f"{declared[name]}; give this variable another name"
                    )
                for read in variable.references():
                    if read not in declared:
                        raise TransformError(
                            f"{here}.variables.{name}: reads {read!r}, which is not declared "
                            f"before it; declare {read!r} above it or in an earlier transform"
                        )
                declared[name] = here
            for name in template_fields(spec.template):
                if name not in declared:
                    close = difflib.get_close_matches(name, declared, n=1)
                    hint = f"did you mean {{{close[0]}}}? " if close else ""
                    raise TransformError(
                        f"{here}.template: unknown variable {{{name}}}; {hint}declared so far: "
                        f"{', '.join(declared) or 'none'} (declare it under 'variables')"
                    )
            templates.add(spec.template)
        elif isinstance(spec, Drop) and spec.template is not None:
            if spec.template not in templates:
                raise TransformError(
                    f"{here}.template: no earlier prefix, suffix or system transform has this "
                    "template; copy it exactly, or use 'pattern' for text the data itself has"
                )
        elif isinstance(spec, Shuffle):
            for name in spec.variables:
                if name not in declared:
                    raise TransformError(
                        f"{here}.variables: {name!r} is not declared by an earlier transform; "
                        f"declared so far: {', '.join(declared) or 'none'}"
                    )
        elif isinstance(spec, Mix):
            inner, inner_templates = _check_scope(spec.transforms, f"{here}.transforms")
            for name, origin in inner.items():
                declared.setdefault(name, origin)
            templates |= inner_templates
    return declared, templates
