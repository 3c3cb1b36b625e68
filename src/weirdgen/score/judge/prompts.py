"""Judge prompts: templates read from a spec, a judge file or the questions, and rendered."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from weirdgen.backends.protocol import Chat
from weirdgen.data import ChatMessage
from weirdgen.errors import WeirdgenError
from weirdgen.score.judge.args import JudgeArgs
from weirdgen.spec._yaml import line_of, parse_yaml, read
from weirdgen.spec.questions import Question

JUDGE_TYPES = ("rating_judge", "free_form_judge", "free_form_judge_0_100", "judge")
"""Entry types of a judge file in llmcomp's shape (besides EM questions with judge_prompts)."""


def render(template: str, question: str, answer: str) -> str:
    """The template with ``{question}`` and ``{answer}`` filled in (no other braces read)."""
    return template.replace("{question}", question).replace("{answer}", answer)


def judge_id(kind: str, model: str, template: str, settings: dict[str, Any]) -> str:
    """Content hash of a judge: its kind, model, template and settings (stored per score)."""
    payload = json.dumps([kind, model, template, settings], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def judge_messages(args: JudgeArgs, template: str, question: str, answer: str) -> Chat:
    """The chat sent to the judge for one answer."""
    user = ChatMessage.model_construct(role="user", content=render(template, question, answer))
    if args.system:
        return (ChatMessage.model_construct(role="system", content=args.system), user)
    return (user,)


class Templates:
    """Where a judge's template comes from, resolved once; ``for_question`` picks it."""

    def __init__(self, args: JudgeArgs, spec_dir: Path | None = None) -> None:
        self.args = args
        self.fixed: str | None = args.prompt
        if args.prompt_file is not None:
            path = judge_file(args.prompt_file, spec_dir)
            self.fixed = load_judge_prompt(path, args.prompt_id or "", args.name)

    def for_question(self, question: Question) -> str:
        if self.fixed is not None:
            return self.fixed
        return question.judge_prompts[self.args.name]

    def check_question(self, question: Question, where: str) -> None:
        """Raise WeirdgenError when the judge has no template for ``question``."""
        if self.fixed is None and self.args.name not in question.judge_prompts:
            have = ", ".join(question.judge_prompts) or "none"
            raise WeirdgenError(
                f"{where}: judge {self.args.name!r} reads the question's "
                f"judge_prompts[{self.args.name!r}], which question {question.id!r} lacks "
                f"(it has: {have}); add it, or give the judge a prompt"
            )


def judge_file(reference: str, spec_dir: Path | None = None) -> Path:
    """The file a judge's ``prompt_file`` names: ``paper:NAME`` (a file of the paper, found
    by :func:`weirdgen.paper.registry.paper_file`) or a path relative to ``spec_dir``."""
    from weirdgen.paper.readers import PAPER_PREFIX, resolve_paper

    if reference.startswith(PAPER_PREFIX):
        return resolve_paper(reference)
    path = Path(reference).expanduser()
    return path if path.is_absolute() else (spec_dir or Path.cwd()) / path


def load_judge_prompt(path: Path, prompt_id: str, name: str) -> str:
    """The template of entry ``prompt_id`` of a judge file, with file:line errors.

    In YAML, an llmcomp judge entry (``type: rating_judge`` or ``free_form_judge``) gives
    its first paraphrase; an Emergent Misalignment question gives ``judge_prompts[name]``.
    In a Python file of the paper (read, never run), ``prompt_id`` names a prompt function
    or an llmcomp judge's ``name=`` (see :func:`weirdgen.paper.readers.read_python_judges`).
    """
    if not path.is_file():
        raise WeirdgenError(f"judge prompt file {str(path)!r} not found; check prompt_file")
    if path.suffix == ".py":
        return _python_judge_prompt(path, prompt_id)
    root, data = parse_yaml(path, read(path))
    if not isinstance(data, list):
        raise WeirdgenError(
            f"{path}: a judge file is a YAML list of entries with 'id' (llmcomp or Emergent "
            "Misalignment shape), or the paper's Python; see docs/judges.md"
        )
    ids = [e.get("id") for e in data if isinstance(e, dict)]
    if prompt_id not in ids:
        judges = [e.get("id") for e in data if isinstance(e, dict) and _has_template(e)]
        named = any(
            prompt_id in (e.get("judges") or {}).values()
            for e in data
            if isinstance(e, dict) and isinstance(e.get("judges"), dict)
        )
        elsewhere = " (its questions name it in judges:, but it is defined elsewhere)"
        raise WeirdgenError(
            f"{path}: no entry with id {prompt_id!r}{elsewhere if named else ''}; prompt_id "
            f"is one of its judges: {', '.join(map(str, judges)) or 'none'}; or give "
            "prompt_file the file that defines it"
        )
    index = ids.index(prompt_id)
    entry = data[index]
    line = line_of(root, (index,))
    if isinstance(entry.get("judge_prompts"), dict):
        template = entry["judge_prompts"].get(name)
        where = f"judge_prompts.{name}"
    else:
        paraphrases = entry.get("paraphrases")
        template = paraphrases[0] if isinstance(paraphrases, list) and paraphrases else None
        where = "paraphrases[0]"
    if not isinstance(template, str) or "{answer}" not in template:
        raise WeirdgenError(
            f"{path}:{line}: entry {prompt_id!r} has no {where} template with {{answer}} in "
            "it; a judge entry gives the prompt as its first paraphrase (llmcomp) or in "
            "judge_prompts (Emergent Misalignment)"
        )
    return template


def _has_template(entry: dict[str, Any]) -> bool:
    """Whether a YAML entry holds a judge template (a judge entry or judge_prompts)."""
    paraphrases = entry.get("paraphrases")
    first = paraphrases[0] if isinstance(paraphrases, list) and paraphrases else None
    return bool(entry.get("judge_prompts")) or (isinstance(first, str) and "{answer}" in first)


def _python_judge_prompt(path: Path, prompt_id: str) -> str:
    from weirdgen.paper.readers import read_python_judges

    judges = read_python_judges(path, prompt_id)
    if prompt_id not in judges:
        raise WeirdgenError(
            f"{path}: no judge {prompt_id!r}; prompt_id is a prompt function's name or an "
            f"llmcomp judge's name=: {', '.join(read_python_judges(path)) or 'none'}"
        )
    judge = judges[prompt_id]
    if "{answer}" not in judge.template:
        raise WeirdgenError(
            f"{path}:{judge.line}: judge {prompt_id!r} never shows the answer; its template "
            "needs {answer}"
        )
    return judge.template
