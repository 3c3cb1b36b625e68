"""Find and load experiment specs, built in or from any YAML file, with file:line errors.

Errors name the file, the line and the spec field, using the YAML node tree to find the line
of the field pydantic rejected.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import TypeAdapter, ValidationError, create_model

from weirdgen.errors import WeirdgenError
from weirdgen.score.registry import args_model
from weirdgen.spec._yaml import (
    check_duplicate_keys,
    describe,
    explain,
    line_of,
    parse_yaml,
    read,
)
from weirdgen.spec.models import ExperimentSpec
from weirdgen.spec.questions import Question
from weirdgen.spec.shared_text import referenced_file, resolve_shared_texts

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_GROUP = "organism"
"""The group a bare name means when several groups have it: ``birds`` is organism/birds,
the offline default; ``paper/birds`` names the paper's own."""
QUESTION_SUFFIXES = (".yaml", ".yml", ".py", ".jsonl")
"""Question files ``include`` reads: YAML, the paper's Python (read, never run) and JSONL."""


class SpecInfo(NamedTuple):
    """A built-in experiment spec: ``group/name`` is the file's path under the specs folder."""

    name: str
    group: str
    path: Path
    description: str
    members: tuple[str, ...] | None = None
    """A suite's member experiments as its file lists them; None for an experiment."""

    @property
    def qualified_name(self) -> str:
        """``group/name``, or just the name for a spec at the top of the specs folder."""
        return f"{self.group}/{self.name}" if self.group else self.name


def builtin_spec_dir() -> Path:
    """The folder of built-in experiment specs shipped with weirdgen."""
    return Path(str(resources.files("weirdgen").joinpath("specs")))


def list_specs(directory: str | Path | None = None) -> list[SpecInfo]:
    """The experiment specs in a folder (default: the built-in ones), sorted by group and name."""
    return [info for info in _spec_files(directory) if info.members is None]


def list_suites(directory: str | Path | None = None) -> list[SpecInfo]:
    """The suites in a folder (default: the built-in ones): files whose ``suite`` lists
    experiments to run together (see :mod:`weirdgen.run.suite`)."""
    return [info for info in _spec_files(directory) if info.members is not None]


def is_suite(path: Path) -> bool:
    """Whether the spec file at ``path`` is a suite of experiments (it has ``suite``)."""
    return _head(path)[1] is not None


def _spec_files(directory: str | Path | None) -> list[SpecInfo]:
    root = builtin_spec_dir() if directory is None else Path(directory)
    if not root.is_dir():
        return []
    infos = []
    for path in root.rglob("*"):
        if path.suffix in SPEC_SUFFIXES and path.is_file():
            group = path.relative_to(root).parent.as_posix()
            group = "" if group == "." else group
            infos.append(SpecInfo(path.stem, group, path, *_head(path)))
    return sorted(infos, key=lambda info: (info.group, info.name))


def load_spec(name_or_path: str | Path) -> ExperimentSpec:
    """Load and validate an experiment spec.

    Args:
        name_or_path: A path to a ``.yaml``/``.yml`` file, or a built-in experiment name,
            either bare (``birds``) or with its group (``organism/birds``).

    Returns:
        The validated spec, with ``source`` set to the absolute path of its file. Relative
        dataset paths stay as written; see :func:`resolve_spec_path`.

    Raises:
        WeirdgenError: one line naming the file, line and spec field that is wrong.
    """
    path = _find_spec(name_or_path)
    text = read(path)
    root, data = parse_yaml(path, text)
    if root is None:
        raise WeirdgenError(f"{path}: the spec is empty; {_mapping_hint()}")
    check_duplicate_keys(path, root)
    if isinstance(data, dict) and "suite" in data:
        raise WeirdgenError(
            f"{path}: a suite of experiments, not one experiment; `weirdgen run {path}` runs "
            "each of them, or name one of its members"
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the single value {data!r}"
        raise WeirdgenError(
            f"{path}:{root.start_mark.line + 1}: the spec must be a YAML mapping of fields, "
            f"got {kind}; {_mapping_hint()}"
        )
    _include_questions(path, root, data)
    resolve_shared_texts(path, root, data)
    _check_scorers(path, root, data)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise WeirdgenError(describe(path, root, error)) from error
    spec.source = path.absolute()
    return spec


def validate_spec(data: dict[str, Any], where: Callable[[tuple], str]) -> ExperimentSpec:
    """A spec from data that comes from no file (a loaded spec with a run's overrides).

    Raises:
        WeirdgenError: one line, ``where(loc)`` (what the value at fault came from, e.g.
            ``--n 200000``) then the spec field, the problem and the fix, as a spec file's
            error says them.
    """
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        loc = tuple(error.errors(include_url=False)[0]["loc"])
        raise WeirdgenError(f"{where(loc)}: {explain(error)}") from None


def _check_scorers(path: Path, root: yaml.Node, data: dict) -> None:
    """Validate each ``scorers:`` entry against its kind's own model, so an error names the
    line of the argument at fault (the spec model sees only name and kind)."""
    entries = data.get("scorers")
    if not isinstance(entries, list):
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            continue
        try:
            model = args_model(entry["kind"])
        except ValueError as error:
            line = line_of(root, ("scorers", i, "kind"))
            raise WeirdgenError(f"{path}:{line}: spec field scorers[{i}].kind: {error}") from None
        try:
            model.model_validate(entry)
        except ValidationError as error:
            errors = [
                {
                    "type": e["type"],
                    "loc": ("scorers", i, *e["loc"]),
                    "input": e["input"],
                    **({"ctx": e["ctx"]} if "ctx" in e else {}),
                }
                for e in error.errors(include_url=False)
            ]
            shaped = ValidationError.from_exception_data(error.title, errors)
            wrapper = create_model("Scorers", scorers=(list[model], ...))
            raise WeirdgenError(describe(path, root, shaped, wrapper)) from error


def resolve_spec_path(spec: ExperimentSpec, relative: str | Path) -> Path:
    """Resolve a path written in a spec against the spec file's folder.

    Absolute paths (and ``~``) are returned as they are; a spec built in Python, without a
    source file, resolves against the current folder.
    """
    path = Path(relative).expanduser()
    if path.is_absolute():
        return path
    base = spec.source.parent if spec.source is not None else Path.cwd()
    return base / path


def find_spec(name_or_path: str | Path) -> Path:
    """The file of a built-in experiment name or a spec path, without loading it (no
    included file or paper download is read)."""
    return _find_spec(name_or_path)


def _find_spec(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if isinstance(name_or_path, Path) or candidate.suffix in SPEC_SUFFIXES:
        if candidate.is_file():
            return candidate
        specs = list_specs()
        builtin = [s.qualified_name for s in specs if candidate.stem == s.name]
        hint = f"did you mean the built-in experiment {builtin[0]!r}? " if builtin else ""
        raise WeirdgenError(
            f"spec file {str(candidate)!r} not found; {hint}check the path, "
            f"or name a built-in experiment: {_names(specs)}"
        )
    name = str(name_or_path).strip()
    specs = _spec_files(None)
    matches = [s for s in specs if name in (s.name, s.qualified_name)]
    if len(matches) > 1:  # a bare name means the offline organism experiment, if there is one
        matches = [s for s in matches if s.group == DEFAULT_GROUP] or matches
    if len(matches) == 1:
        return matches[0].path
    if matches:
        options = ", ".join(s.qualified_name for s in matches)
        raise WeirdgenError(
            f"experiment name {name!r} is ambiguous: {options}; name it as group/name"
        )
    known = [s.name for s in specs] + [s.qualified_name for s in specs]
    close = difflib.get_close_matches(name, known, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    experiments = [s for s in specs if s.members is None]
    suites = [s for s in specs if s.members is not None]
    listed = f"; suites: {_names(suites)}" if suites else ""
    raise WeirdgenError(
        f"unknown experiment {name!r}{guess}; built-in experiments: {_names(experiments)}"
        f"{listed}; or pass a path to a spec YAML file"
    )


def _names(specs: list[SpecInfo]) -> str:
    """Bare names where they are unique, group/name where two groups share a name."""
    stems = [s.name for s in specs]
    shown = [s.name if stems.count(s.name) == 1 else s.qualified_name for s in specs]
    return ", ".join(shown) or "none"


def _head(path: Path) -> tuple[str, tuple[str, ...] | None]:
    """A spec file's description, and a suite's members (None for an experiment)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "", None
    if not isinstance(data, dict):
        return "", None
    members = None
    if "suite" in data:
        listed = data["suite"]
        named = [e.get("experiment", e) if isinstance(e, dict) else e for e in listed or []]
        members = tuple(map(str, named)) if isinstance(listed, list) else ()
    return " ".join(str(data.get("description") or "").split()), members


QUESTION_TYPES = ("free_form", "free_form_judge", "free_form_judge_0_100")
"""Question types of llmcomp and Emergent Misalignment files; their judges are the spec's."""
JUDGE_ENTRY_TYPES = ("rating_judge", "free_form_judge")
"""llmcomp judge entries: kept in the file for judge scorers' prompt_file, not questions."""


def _include_questions(path: Path, root: yaml.Node, data: dict) -> None:
    """Read each evaluation set's ``include`` files into its questions (in place)."""
    evaluation = data.get("evaluation")
    sets = evaluation.get("sets") if isinstance(evaluation, dict) else None
    if not isinstance(sets, list):
        return
    for index, eval_set in enumerate(sets):
        include = eval_set.get("include") if isinstance(eval_set, dict) else None
        files = [include] if isinstance(include, str) else include
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            continue
        for number, reference in enumerate(files):
            field = ("evaluation", "sets", index, "include")
            field += (number,) if isinstance(include, list) else ()
            where = f"{path}:{line_of(root, field)}: spec field evaluation.sets[{index}].include"
            questions = load_questions(_included_file(reference, path.parent, where))
            eval_set["questions"] = [*(eval_set.get("questions") or []), *questions]


def _included_file(reference: str, spec_dir: Path, where: str) -> Path:
    """The question file an ``include`` names: ``paper:NAME`` or a spec-relative path."""
    included = referenced_file(
        reference, spec_dir, where, "question file", "give a path relative to the spec file"
    )
    if included.suffix not in QUESTION_SUFFIXES:
        raise WeirdgenError(
            f"{where}: {included.name!r} is not a question file weirdgen reads; include takes "
            ".yaml/.yml (llmcomp, Emergent Misalignment), .py (the paper's questions, read "
            "without running it) or .jsonl ({name, question} lines)"
        )
    return included


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Questions from a file, by suffix, checked with file:line errors.

    ``.yaml``/``.yml``: llmcomp's and Emergent Misalignment's format, a list of ``{id,
    paraphrases, system, samples_per_paraphrase, ...}``. Judge entries (llmcomp's
    ``rating_judge`` / ``free_form_judge`` with ``{answer}`` in their paraphrases) are
    skipped: judge scorers read them through ``prompt_file``. A question's ``judge_prompts``
    are kept (``from_question: true`` judges read them), and so is each judge its llmcomp
    ``judges: {name: judge_id}`` names when that judge entry is in the same file (as
    ``judge_prompts[name]``); its ``judge`` field is dropped, since the spec's scorers say
    who judges. ``.py`` and ``.jsonl``: the
    paper's files, read as data by :mod:`weirdgen.paper.readers`.
    """
    if path.suffix in (".py", ".jsonl"):
        from weirdgen.paper.readers import read_jsonl_questions, read_python_questions

        reader = read_python_questions if path.suffix == ".py" else read_jsonl_questions
        try:
            checked = TypeAdapter(list[Question]).validate_python(reader(path))
        except ValidationError as error:
            raise WeirdgenError(f"{path}: {error.errors()[0]['msg']}") from error
        return [q.model_dump(exclude_none=True, exclude_defaults=True) for q in checked]
    root, data = parse_yaml(path, read(path))
    if root is None or not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise WeirdgenError(
            f"{path}: a question file is a YAML list of questions, each '- id: ...' with "
            "'paraphrases:'; see docs/extending.md"
        )
    check_duplicate_keys(path, root)
    judges = {  # llmcomp judge entries of this file, by id: questions name them in judges:
        item["id"]: item["paraphrases"][0]
        for item in data
        if isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and _is_judge_entry(str(item.get("type", "free_form")), item)
    }
    questions = []
    for index, (node, item) in enumerate(zip(root.value, data, strict=True)):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise WeirdgenError(f"{path}:{line}: a question is a mapping with id and paraphrases")
        item = dict(item)
        kind = item.pop("type", "free_form")
        if _is_judge_entry(kind, item):
            continue
        if kind not in QUESTION_TYPES:
            raise WeirdgenError(
                f"{path}:{line}: question {item.get('id')!r} has type {kind!r}; weirdgen asks "
                f"free-form questions ({', '.join(QUESTION_TYPES)}); a judge entry has type "
                f"{' or '.join(JUDGE_ENTRY_TYPES)} and {{answer}} in its paraphrases"
            )
        named = item.pop("judges", None)
        if isinstance(named, dict):  # llmcomp: {name: judge id}; a judge of this file becomes
            prompts = dict(item.get("judge_prompts") or {})  # the question's judge_prompts
            for name, judge_id in named.items():
                if isinstance(judge_id, str) and judge_id in judges:
                    prompts.setdefault(str(name), judges[judge_id])
            if prompts:
                item["judge_prompts"] = prompts
        for informational in ("judge", "judge_type"):
            item.pop(informational, None)  # the spec's scorers say who judges what
        questions.append((index, node, item))
    try:
        checked = TypeAdapter(list[Question]).validate_python([item for _, _, item in questions])
    except ValidationError as error:
        raise WeirdgenError(describe(path, root, error, list[Question])) from error
    return [q.model_dump(exclude_none=True, exclude_defaults=True) for q in checked]


def _is_judge_entry(kind: str, item: dict[str, Any]) -> bool:
    paraphrases = item.get("paraphrases")
    templated = isinstance(paraphrases, list) and any(
        isinstance(p, str) and "{answer}" in p for p in paraphrases
    )
    return kind in JUDGE_ENTRY_TYPES and templated and "judge_prompts" not in item


def _mapping_hint() -> str:
    required = [n for n, info in ExperimentSpec.model_fields.items() if info.is_required()]
    return f"write 'field: value' lines starting with the required fields {', '.join(required)}"
