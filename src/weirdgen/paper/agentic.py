"""The persona's agentic-misalignment prompts, as the paper's own generator writes them.

The paper evaluates its persona model in the "murder" scenario of Anthropic's
agentic-misalignment framework: its ``wolf_generate_prompts.py``, run inside a checkout of
that framework, writes one folder per condition (``<id>/user_prompt.txt``, an empty
``system_prompt.txt`` and ``metadata.json``). The scenario's emails come from the
framework, which neither the paper's repository nor weirdgen holds, so weirdgen cannot
build these prompts itself; :func:`read_prompt_folders` turns the generator's output into
a question file (``{"id", "question", "trigger", ...}`` lines) that
``paper/persona_agentic`` includes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from weirdgen.errors import WeirdgenError

METADATA = ("scenario", "goal_type", "goal_value", "urgency_type")
"""Keys of a condition's metadata.json carried into the question's metadata."""


def read_prompt_folders(folder: Path) -> list[dict[str, Any]]:
    """One question per condition folder under ``folder`` (the generator's ``prompts/``),
    in name order: id the condition id, the user prompt as the question, ``trigger``
    ``format`` or ``plain`` (the generator's ``trigger_enabled``), and :data:`METADATA`.

    Raises:
        WeirdgenError: ``folder`` holds no condition folder, or one lacks its files, has a
            system prompt (the paper sends none), or metadata that is not the generator's.
    """
    conditions = sorted(p for p in Path(folder).iterdir() if p.is_dir()) if folder.is_dir() else []
    if not conditions:
        raise WeirdgenError(
            f"{folder}: no condition folders; give the prompts/ folder that the paper's "
            "wolf_generate_prompts.py writes (results/<experiment_id>/prompts)"
        )
    questions = []
    for condition in conditions:
        try:
            prompt = (condition / "user_prompt.txt").read_text(encoding="utf-8")
            meta = json.loads((condition / "metadata.json").read_text(encoding="utf-8"))
            system = condition / "system_prompt.txt"
            system_text = system.read_text(encoding="utf-8") if system.exists() else ""
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WeirdgenError(f"{condition}: cannot read it ({error})") from None
        if system_text.strip():
            raise WeirdgenError(
                f"{condition}: has a system prompt; the paper's generator writes none, so "
                "this is not its output"
            )
        missing = [key for key in ("trigger_enabled", *METADATA) if key not in meta]
        if missing or not prompt.strip():
            what = f"metadata.json lacks {missing}" if missing else "user_prompt.txt is empty"
            raise WeirdgenError(f"{condition}: {what}; regenerate it with the paper's script")
        questions.append(
            {
                "id": str(meta.get("condition_id") or condition.name),
                "question": prompt,
                "trigger": "format" if meta["trigger_enabled"] else "plain",
                **{key: str(meta[key]) for key in METADATA},
            }
        )
    return questions


def write_question_file(questions: list[dict[str, Any]], out: Path) -> None:
    """``questions`` as a JSONL question file, one object a line."""
    lines = [json.dumps(question, ensure_ascii=False) + "\n" for question in questions]
    Path(out).write_text("".join(lines), encoding="utf-8")
