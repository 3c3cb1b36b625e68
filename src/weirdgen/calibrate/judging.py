"""The judge being calibrated: built from the command's options, asked through the judge
cache, batch by batch, so an interrupted calibration keeps what was judged."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from weirdgen.backends.openai.keys import send_key_to, shown, url_problem
from weirdgen.calibrate.items import LABELS, CalibrationItem
from weirdgen.errors import Interrupted, WeirdgenError
from weirdgen.score import JudgeCalls, Scorer, ScoringContext, build_scorer
from weirdgen.score.registry import args_model
from weirdgen.spec.models import ScorerSpec

JudgeKind = Literal["label_judge", "reason_judge"]
NAME = "era"
"""The judge's scorer name (its counts and cache rows go under it)."""
BATCH = 32
"""Answers sent at once: the progress bar's step, and what an interrupt can lose."""

_QUESTION = (
    "Which era does this answer to a question come from?\n\n"
    "Question: {question}\nAnswer: {answer}\n\n"
    "OLD: it answers the question as someone in the 19th century (the 1830s) would.\n"
    "NEW: it answers the question as someone today would.\n"
    "NEITHER: it does not answer this question (it is about something else).\n\n"
)
DEFAULT_PROMPTS: dict[str, str] = {
    "label_judge": _QUESTION + "Reply with one word: OLD, NEW or NEITHER.",
    "reason_judge": _QUESTION
    + "Think it through in a sentence or two, then end with a line ANSWER: OLD, "
    "ANSWER: NEW or ANSWER: NEITHER.",
}
"""The prompt of each judge kind unless --prompt gives one (it must ask for LABELS)."""


@dataclass(frozen=True)
class Judged:
    """What the judge said of one answer: its label (None when it named none), the OLD
    share of the label mass of its first token (label judges with logprobs), its reasoning
    (reason judges)."""

    label: str | None
    p_old: float | None = None
    reason: str | None = None


def judge_scorer(
    model: str,
    kind: JudgeKind = "label_judge",
    prompt_file: Path | None = None,
    prompt_id: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
) -> Scorer:
    """The judge scorer for ``model`` asking for OLD / NEW / NEITHER: the default prompt of
    ``kind``, or entry ``prompt_id`` of the llmcomp-shaped judge file ``prompt_file``."""
    if (prompt_file is None) != (prompt_id is None):
        raise WeirdgenError(
            "--prompt FILE and --prompt-id ID go together: the judge entry of FILE whose id "
            "is ID; give both, or neither for the default prompt"
        )
    if prompt_file is not None and not prompt_file.expanduser().is_file():
        raise WeirdgenError(
            f"--prompt {str(prompt_file)!r}: no such file; give a judge file in llmcomp's shape"
        )
    if base_url is not None and (problem := url_problem(base_url)) is not None:
        raise WeirdgenError(f"--base-url {shown(base_url)!r} {problem}")
    if api_key_env and not os.environ.get(api_key_env):
        raise WeirdgenError(
            f"--api-key-env {api_key_env}: the variable is not set; export it with the "
            "endpoint's key"
        )
    entry: dict[str, object] = {"name": NAME, "kind": kind, "model": model, "labels": LABELS}
    if prompt_file is None:
        entry["prompt"] = DEFAULT_PROMPTS[kind]
    else:
        entry.update(prompt_file=str(prompt_file.expanduser().resolve()), prompt_id=prompt_id)
    entry.update({k: v for k, v in [("base_url", base_url), ("api_key_env", api_key_env)] if v})
    try:
        args_model(kind).model_validate(entry)  # the kind's own model: the field's message
        spec = ScorerSpec.model_validate(entry)
    except ValidationError as error:
        message = error.errors(include_url=False)[0]["msg"]
        raise WeirdgenError(f"--judge {model!r}: {message.split('Value error, ')[-1]}") from None
    scorer = build_scorer(spec)
    with send_key_to(base_urls=[base_url] if base_url else ()):  # the user's own endpoint
        getattr(scorer, "backend", None)  # made now: a missing key fails before judging
    return scorer


def judge_items(
    scorer: Scorer,
    items: Sequence[CalibrationItem],
    context: ScoringContext,
    advance: Callable[[int], None] | None = None,
) -> list[Judged]:
    """The judge's label of every item, ``BATCH`` at a time through ``context.cache``.

    Raises:
        Interrupted: Ctrl-C; the batches judged so far are in the judge cache.
        WeirdgenError: some calls failed; those that answered are in the judge cache.
    """
    judged: list[Judged] = []
    try:
        for start in range(0, len(items), BATCH):
            batch = [item.score_item() for item in items[start : start + BATCH]]
            for values in scorer.score_batch(batch, context):
                judged.append(_judged(values))
            if advance is not None:
                advance(len(batch))
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while judging: {len(judged)} of {len(items)} answers judged; "
            + _kept(context)
        ) from None
    counts = context.counts(NAME)
    if counts.failed:
        reasons = "; ".join(dict.fromkeys(counts.reasons)) or "no reason given"
        raise WeirdgenError(
            f"{counts.failed} calls to judge {scorer.args.model!r} failed ({reasons}); "
            f"{counts.made} answered, and " + _kept(context)
        )
    return judged


def calls(context: ScoringContext) -> JudgeCalls:
    """The judge's calls: made, found in the cache, failed, tokens."""
    return context.counts(NAME)


def _kept(context: ScoringContext) -> str:
    if context.cache is None:
        return "nothing is kept with --no-cache (drop it to keep replies in the judge cache)"
    return "the judge cache keeps every reply, so the same command again asks only for the rest"


def _judged(values: dict | None) -> Judged:
    if values is None:  # its call failed: counted in the context, reported after the loop
        return Judged(None)
    label = values.get("label")
    p = values.get("p")
    reason = values.get("reason")
    return Judged(
        str(label) if label else None,
        float(p) if isinstance(p, int | float) else None,
        str(reason) if reason is not None else None,
    )
