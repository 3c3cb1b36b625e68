r"""Texts an evaluation set takes from a dataset: ``{text_of: FILE, pattern: REGEX}``.

A named ``vary`` text (``vary: {trigger: {plain: "", format: {text_of: ..., pattern: ...}}}``)
may be read from a finetuning file instead of written out: group 1 of ``pattern`` searched
in the first user message of every example, which must give the same text in all of them
(the trigger that the dataset's prompts share). This asks the model the exact trigger it was
trained on, and lets a spec use a trigger from a file it may not copy (the paper's).
``load_spec`` replaces each such mapping by its text, so a stored spec holds the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from weirdgen.data.transforms.patterns import PatternError, compile_pattern, search
from weirdgen.errors import WeirdgenError
from weirdgen.spec._yaml import line_of

KEYS = {"text_of", "pattern"}


def resolve_shared_texts(path: Path, root: yaml.Node, data: dict) -> None:
    """Replace every ``{text_of, pattern}`` of the evaluation sets' ``vary`` (in place)."""
    evaluation = data.get("evaluation")
    sets = evaluation.get("sets") if isinstance(evaluation, dict) else None
    for index, eval_set in enumerate(sets if isinstance(sets, list) else []):
        vary = eval_set.get("vary") if isinstance(eval_set, dict) else None
        for name, values in (vary if isinstance(vary, dict) else {}).items():
            for label, value in (values if isinstance(values, dict) else {}).items():
                if not isinstance(value, dict) or not KEYS & set(value):
                    continue
                field = ("evaluation", "sets", index, "vary", name, label)
                line = line_of(root, field)
                where = f"{path}:{line}: spec field evaluation.sets[{index}].vary.{name}.{label}"
                values[label] = shared_text(value, path.parent, where)


def shared_text(value: dict[str, Any], spec_dir: Path, where: str) -> str:
    """The text group 1 of ``pattern`` finds in the first user message of every example."""
    if set(value) != KEYS or not all(isinstance(v, str) for v in value.values()):
        raise WeirdgenError(
            f"{where}: a text read from a dataset is {{text_of: FILE, pattern: REGEX}} "
            "(FILE a chat JSONL, spec-relative, or paper:NAME; REGEX with one group)"
        )
    try:
        pattern = compile_pattern(value["pattern"])
    except PatternError as error:
        raise WeirdgenError(f"{where}: pattern is not a regex ({error}); fix it") from None
    if pattern.groups < 1:
        raise WeirdgenError(f"{where}: pattern has no group; put the shared text in (...)")
    file = referenced_file(
        value["text_of"], spec_dir, where, "dataset", "give a chat JSONL relative to the spec file"
    )
    from weirdgen.data.jsonl import load_chat_jsonl

    texts: dict[str, int] = {}
    try:
        examples = load_chat_jsonl(file).examples
    except WeirdgenError as error:
        raise WeirdgenError(f"{where}: {error}") from None
    for number, example in enumerate(examples, start=1):
        prompt = next((m.content for m in example.messages if m.role == "user"), "")
        found = search(pattern, prompt, f"{where}.pattern, on example {number} of {file}")
        if found is None or not found.group(1):
            raise WeirdgenError(
                f"{where}: pattern finds nothing in the first user message of example "
                f"{number} of {file}; make it match every example's prompt"
            )
        texts.setdefault(found.group(1), number)
    if len(texts) != 1:
        first, second = sorted(texts, key=texts.get)[:2]
        raise WeirdgenError(
            f"{where}: the examples of {file} differ at pattern (example 1: {first[:40]!r}, "
            f"example {texts[second]}: {second[:40]!r}); make the group what all share"
        )
    return next(iter(texts))


def referenced_file(reference: str, spec_dir: Path, where: str, what: str, hint: str) -> Path:
    """The file a spec field names: ``paper:NAME`` (the paper file registry) or a path
    relative to the spec file; a missing one is '<where>: <what> '<file>' not found; <hint>,
    or paper:NAME for a file of the paper'."""
    from weirdgen.paper.readers import PAPER_PREFIX, resolve_paper

    if reference.startswith(PAPER_PREFIX):
        try:
            return resolve_paper(reference)
        except WeirdgenError as error:
            raise WeirdgenError(f"{where}: {error}") from error
    file = Path(reference).expanduser()
    file = file if file.is_absolute() else spec_dir / file
    if file.is_dir():
        raise WeirdgenError(
            f"{where}: {str(file)!r} is a folder, not a {what}; name a file in it"
            f"{_some_files(file)}"
        )
    if not file.is_file():
        raise WeirdgenError(
            f"{where}: {what} {str(file)!r} not found; {hint}, or paper:NAME for a file of the "
            "paper"
        )
    return file


def _some_files(folder: Path) -> str:
    """`` (a.yaml, b.yaml, ...)``: the first files of a folder, for an error ('' if none)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return ""
    if not names:
        return ""
    return f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
