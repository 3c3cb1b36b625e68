"""Where a spec's YAML went wrong: file:line, the field path, the problem and the fix.

The YAML node tree gives each field's line; pydantic's errors give the field path, which is
turned into one line with the field's help text and a hint for the fix.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import ExperimentSpec

_Loc = tuple[int | str, ...]

_TYPE_HINTS = {
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "write text (quote it if YAML reads it as a number, date or boolean)",
    "list_type": "write a YAML list, one '- item' per line",
    "tuple_type": "write a YAML list, one '- item' per line",
    "dict_type": "write a mapping of 'field: value' lines",
    "model_type": "write a mapping of 'field: value' lines",
    "model_attributes_type": "write a mapping of 'field: value' lines",
    "literal_error": "use one of the values listed",
}


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise WeirdgenError(
            f"{path}: cannot read spec file ({error.strerror or error}); check the path"
        ) from error
    except UnicodeDecodeError as error:
        raise WeirdgenError(
            f"{path}: spec file is not valid UTF-8 ({error.reason}); save it as UTF-8"
        ) from error


def parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its Python data, from one parse."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise WeirdgenError(
            f"{path}:{line}: invalid YAML: character {_codepoint(error.character)} is not "
            "allowed; remove it or write it as an escape in a double-quoted string"
        ) from error
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        raise WeirdgenError(_describe_yaml_error(path, error)) from error
    finally:
        loader.dispose()


def _describe_yaml_error(path: Path, error: yaml.MarkedYAMLError) -> str:
    problem = error.problem or error.context or "syntax error"
    mark = error.problem_mark or error.context_mark
    context_mark = error.context_mark
    # A scan that runs on (an unclosed quote, a key without its colon) fails lines later;
    # the line where it began is the one to fix.
    if error.context and error.context.startswith("while scanning") and context_mark:
        mark = context_mark
    line = mark.line + 1 if mark else 1
    context = ""
    if error.context and problem.startswith("but "):
        problem = f"{error.context}, {problem}"
    elif error.context and context_mark and context_mark.line + 1 != line:
        context = f" ({error.context} started at line {context_mark.line + 1})"
    return (
        f"{path}:{line}: invalid YAML: {problem}{context}; "
        "fix the YAML here (indentation, quoting, colons)"
    )


def check_duplicate_keys(path: Path, root: yaml.Node) -> None:
    """PyYAML keeps the last of two equal keys silently; a spec with both is a mistake."""
    pending, seen = [root], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in first:
                        raise WeirdgenError(
                            f"{path}:{line}: duplicate key {key.value!r} "
                            f"(first at line {first[key.value]}); keep only one"
                        )
                    first[key.value] = line
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)


def describe(
    path: Path, root: yaml.Node, error: ValidationError, model: Any = ExperimentSpec
) -> str:
    """One line for the first validation error: file:line, field path, problem and fix."""
    first = error.errors(include_url=False)[0]
    loc: _Loc = tuple(first["loc"])
    line = line_of(root, loc) if loc else _root_error_line(root, _problem(first))
    return f"{path}:{line}: {explain(error, model)}"


def explain(error: ValidationError, model: Any = ExperimentSpec) -> str:
    """The first validation error as 'spec field PATH: problem; fix' (or 'spec: problem'
    for a whole-spec check), without a file and line: for values that came from elsewhere
    (command-line flags, Python), which the caller names before it."""
    errors = error.errors(include_url=False)
    first = errors[0]
    loc: _Loc = tuple(first["loc"])
    kind = first["type"]
    more = len(errors) - 1
    more_text = f" (+{more} more error{'s' if more > 1 else ''})" if more else ""
    message = _problem(first)

    if not loc:
        return f"spec: {message}{more_text}"

    field = _format_loc(loc)
    owner = _owner_model(loc, model)
    name = loc[-1]
    help_text = _field_help(owner, name)
    if kind == "missing":
        described = f" ({help_text})" if help_text else ""
        return f"spec field {field}: required field is missing; add {name!r}{described}{more_text}"
    if kind == "extra_forbidden":
        allowed = _allowed_fields(owner)
        close = difflib.get_close_matches(str(name), allowed, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return (
            f"spec field {field}: unknown field {str(name)!r}; "
            f"{guess}allowed fields here: {', '.join(allowed)}{more_text}"
        )
    if kind == "invalid_key":
        parent = f"spec field {_format_loc(loc[:-1])}" if len(loc) > 1 else "spec"
        return (
            f"{parent}: key {_shown_input(first.get('input'))} is not text; "
            "write a field name "
            f"(YAML reads unquoted numbers and yes/no/on/off as non-text){more_text}"
        )
    if kind in ("value_error", "assertion_error"):
        return f"spec field {field}: {message}{more_text}"
    if kind == "too_short":
        count = first.get("ctx", {}).get("min_length", 1)
        hint = f"give at least {count} item{'s' if count != 1 else ''}"
        return f"spec field {field}: {message}; {hint}{more_text}"
    hint = _TYPE_HINTS.get(kind) or (f"{name!r} is: {help_text}" if help_text else "fix this value")
    got = _shown_input(first.get("input"))
    return f"spec field {field}: {message} (got {got}); {hint}{more_text}"


def _problem(error: Any) -> str:
    """An error's message without pydantic's 'Value error, ' before a validator's own."""
    return re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])


def line_of(root: yaml.Node, loc: _Loc) -> int:
    """1-based line of the YAML node at ``loc``, or of its nearest ancestor present in the file.

    Through a mapping it is the line of the key, so a missing field points at its parent's key.
    """
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next((pair for pair in node.value if _is_key(pair[0], key)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                break
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _is_key(node: yaml.Node, key: int | str) -> bool:
    if not isinstance(node, yaml.ScalarNode):
        return False
    if isinstance(key, str):
        return node.value == key
    # pydantic reports a non-text key (1, true) by its value; YAML spelled it as written.
    return node.tag != "tag:yaml.org,2002:str" and yaml.safe_load(node.value) == key


def _root_error_line(root: yaml.Node, message: str) -> int:
    """A whole-spec check failed: point at the top-level key the message talks about first."""
    if not isinstance(root, yaml.MappingNode):
        return root.start_mark.line + 1
    best: tuple[int, int] | None = None
    for key, _ in root.value:
        if not isinstance(key, yaml.ScalarNode) or not key.value:
            continue
        word = re.escape(key.value.removesuffix("s"))
        found = re.search(rf"\b{word}s?\b", message)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), key.start_mark.line + 1)
    return best[1] if best else 1


def _format_loc(loc: _Loc) -> str:
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else str(key)
    return text


def _owner_model(loc: _Loc, model: Any = ExperimentSpec) -> type[BaseModel] | None:
    """The model class whose field the last element of ``loc`` names."""
    annotation: Any = model
    for key in loc[:-1]:
        if isinstance(key, int):
            annotation = _item_type(annotation)
            continue
        model = _model_in(annotation)
        if model is None and typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]  # a mapping's value (vary.year)
            continue
        if model is None or key not in model.model_fields:
            return None
        annotation = model.model_fields[key].annotation
    return _model_in(annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(filter(None, map(_model_in, typing.get_args(annotation))), None)
    return None


def _item_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    args = typing.get_args(annotation)
    return args[0] if args else None


def _allowed_fields(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [name for name, info in model.model_fields.items() if not info.exclude]


def _field_help(model: type[BaseModel] | None, name: int | str) -> str:
    info = model.model_fields.get(str(name)) if model is not None else None
    if info is None or not info.description:
        return ""
    return info.description.rstrip(".")


def _shown_input(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _codepoint(character: object) -> str:
    return f"U+{character:04X}" if isinstance(character, int) else repr(character)
