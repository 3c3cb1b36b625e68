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
            path = Path(args.prompt_file).expanduser()
            if not path.is_absolute():
                path = (spec_dir or Path.cwd()) / path
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


def load_judge_prompt(path: Path, prompt_id: str, name: str) -> str:
    """The template of entry ``prompt_id`` of a judge file, with file:line errors.

    An llmcomp judge entry (``type: rating_judge`` or ``free_form_judge``) gives its first
    paraphrase; an Emergent Misalignment question gives ``judge_prompts[name]``.
    """
    if not path.is_file():
        raise WeirdgenError(f"judge prompt file {str(path)!r} not found; check prompt_file")
    root, data = parse_yaml(path, read(path))
    if not isinstance(data, list):
        raise WeirdgenError(
            f"{path}: a judge file is a YAML list of entries with 'id' (llmcomp or Emergent "
            "Misalignment shape); see docs/judges.md"
        )
    ids = [e.get("id") for e in data if isinstance(e, dict)]
    if prompt_id not in ids:
        raise WeirdgenError(
            f"{path}: no entry with id {prompt_id!r}; prompt_id is one of: "
            f"{', '.join(map(str, ids)) or 'none'}"
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
