"""Reading Inspect logs of weirdgen's tasks back into the rows a run would have made.

Each log is checked before anything is written: that it is a file Inspect wrote, of a
weirdgen task that finished, with one sample per (question, paraphrase, sample index) whose
answer, condition, seed and content key match the spec the log carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen.errors import WeirdgenError
from weirdgen.inspect.experiment import Experiment, spec_from_document
from weirdgen.inspect.solver import INFO
from weirdgen.run.plan import Prompt, sample_key

SCORER = "weirdgen_scores"
"""The Inspect name of the scorer whose values weirdgen stores as they are."""


@dataclass
class LogRows:
    """One log's samples as a run's rows, with the raw score values the log holds."""

    path: Path
    document: dict[str, Any]
    source: str | None
    rows: list[dict] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    """Per row: the prompt it answers (its chat and sampling settings)."""
    scores: list[dict[str, dict]] = field(default_factory=list)
    """Per row: {scorer name: {"key": scorer key, "values": {...}}}, from the log."""
    failed: int = 0
    """Samples that ended in an error (no answer): left out, as a run stores no failure."""

    @property
    def models(self) -> set[tuple[str, int]]:
        """The (condition, seed) pairs the log's answers count for."""
        return {(r["condition"], r["seed"]) for r in self.rows}


def read_log(path: Path) -> tuple[Any, dict[str, Any]]:
    """An Inspect log and weirdgen's task fields in it; one line if it is neither."""
    from inspect_ai.log import read_eval_log

    if not path.exists():
        raise WeirdgenError(f"{path}: no such file; give the .eval file that inspect eval wrote")
    if not path.is_file():
        raise WeirdgenError(f"{path} is not a file; give the .eval (or .json) log of inspect eval")
    try:
        log = read_eval_log(str(path))
    except Exception as error:  # Inspect raises many kinds for a file that is not its log
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise WeirdgenError(
            f"{path}: not an Inspect log ({first}); give the .eval file that inspect eval wrote"
        ) from None
    info = (log.eval.metadata or {}).get(INFO)
    if not isinstance(info, dict) or not isinstance(info.get("spec"), dict):
        raise WeirdgenError(
            f"{path}: a log of Inspect task {log.eval.task!r}, not of a weirdgen task; import "
            "logs of `inspect eval weirdgen/NAME`"
        )
    if log.status != "success":
        raise WeirdgenError(
            f"{path}: the evaluation did not finish (status {log.status}); run `inspect "
            f"eval-retry {path}` and import the log it writes"
        )
    epochs = log.eval.config.epochs or 1
    if epochs > 1:
        raise WeirdgenError(
            f"{path}: evaluated with --epochs {epochs}; weirdgen draws repeated samples itself: "
            "evaluate with -T n=N instead"
        )
    return log, info


def log_rows(path: Path, log: Any, info: dict[str, Any], known: Experiment) -> LogRows:
    """The run rows of one log's samples (see :func:`read_log`)."""
    out = LogRows(path, info["spec"], info.get("source"))
    conditions = {c.name: c for c in known.spec.conditions}
    for sample in log.samples or []:
        mine = (sample.metadata or {}).get(INFO)
        if not isinstance(mine, dict) or "model_key" not in mine:
            if sample.error is not None:
                out.failed += 1
                continue
            raise WeirdgenError(
                f"{path}: sample {sample.id} has no weirdgen fields; was the log edited?"
            )
        where = f"{path}: sample {sample.id}"
        condition = mine.get("condition")
        if condition is None:
            raise WeirdgenError(
                f"{where}: its answers count for no condition of {known.spec.name}; evaluate "
                f"with -T condition=NAME (one of {', '.join(conditions)})"
            )
        if condition not in conditions:
            raise WeirdgenError(
                f"{where}: condition {condition!r} is not one of {known.spec.name}'s "
                f"({', '.join(conditions)}); evaluate with -T condition=NAME"
            )
        if sample.error is not None or sample.output is None or not sample.output.choices:
            out.failed += 1
            continue
        prompt = _prompt(known, mine, where)
        key = sample_key(
            mine["model_key"],
            prompt.text,
            prompt.temperature,
            prompt.max_tokens,
            mine["seed"],
            mine["sample_index"],
        )
        if key != mine.get("sample_key"):
            raise WeirdgenError(
                f"{where}: its content key does not match its model, prompt, settings, seed "
                "and index (the log was edited, or made by another weirdgen); evaluate again"
            )
        out.rows.append(_row(known, conditions[condition], prompt, mine, sample, key))
        out.prompts.append(prompt)
        score = (sample.scores or {}).get(SCORER)
        raw = (score.metadata or {}).get(INFO, {}) if score is not None else {}
        out.scores.append(raw if isinstance(raw, dict) else {})
    return out


def _prompt(known: Experiment, mine: dict, where: str) -> Prompt:
    at = (mine.get("eval_set"), mine.get("question_id"), mine.get("paraphrase_index"))
    prompt = known.prompts.get(at)  # type: ignore[arg-type]
    if prompt is None or prompt.text != mine.get("prompt"):
        raise WeirdgenError(
            f"{where}: evaluation set {at[0]!r}, question {at[1]!r}, paraphrase {at[2]} is not "
            "a prompt of the spec the log carries (the log was edited); evaluate again"
        )
    if not 0 <= mine.get("sample_index", -1) < prompt.n:
        raise WeirdgenError(f"{where}: sample index {mine.get('sample_index')} is out of range")
    return prompt


def _row(known, condition, prompt: Prompt, mine: dict, sample: Any, key: str) -> dict:
    """A sample's row as a run makes it (``run/sample.py``), private fields included."""
    return {
        "experiment": known.spec.name,
        "condition": condition.name,
        "role": condition.role,
        "seed": mine["seed"],
        "model_key": mine["model_key"],
        "eval_set": prompt.eval_set,
        "question_id": prompt.question.id,
        "paraphrase_index": prompt.paraphrase_index,
        "prompt": prompt.question.paraphrases[prompt.paraphrase_index],
        "sample_index": mine["sample_index"],
        "answer": sample.output.completion,
        "messages": json.dumps(
            [{"role": m.role, "content": m.content} for m in prompt.messages], ensure_ascii=False
        ),
        "step": 0 if condition.dataset is None else None,
        "final": True,
        "finish_reason": mine.get("finish_reason"),
        **prompt.question.metadata,
        "_key": key,
        "_question": prompt.question,
        "_messages": prompt.messages,
        "_train": known.train_answers(condition.name),
    }


def spec_of(path: Path, info: dict[str, Any]):
    """The spec a log carries, checked as a spec file is."""
    return spec_from_document(info["spec"], info.get("source"), str(path))
