"""What every LLM judge does: render its prompt per answer, fetch replies through the judge
cache, and turn them into values."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from weirdgen.backends import Backend
from weirdgen.data.transforms.patterns import subn
from weirdgen.score.judge.args import JudgeArgs
from weirdgen.score.judge.calls import Call, Caller, Reply, judge_backend
from weirdgen.score.judge.prompts import Templates, judge_id, judge_messages
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.questions import Question

VERSION = "judge-v2"
"""Bumped when a judge's values would change for the same replies (v2: a rating judge's
cutoff, its replies without logprobs, its ``method`` value)."""


class Judge:
    """Base of the judge kinds: ``calls`` says what to ask per answer, ``values`` what the
    replies mean. Values of an answer whose calls failed are None (not stored)."""

    kind: ClassVar[str]
    Args: ClassVar[type[JudgeArgs]]
    batch_size = 2048

    def __init__(self, args: JudgeArgs, spec_dir: Path | None = None) -> None:
        self.args = args
        self.templates = Templates(args, spec_dir)
        transport = {"concurrency", "api_key_env", "eval_sets", "timeout"}
        decides = args.model_dump_json(exclude=transport)
        payload = "|".join([VERSION, decides, self.templates.fixed or ""])
        self.key = hashlib.sha256(payload.encode()).hexdigest()[:16]
        self._ids: dict[str, str] = {}

    @cached_property
    def backend(self) -> Backend:
        return judge_backend(self.args)

    @cached_property
    def caller(self) -> Caller:
        fixed = self.judge_id(self.templates.fixed or "")
        return Caller(self.args.name, self.backend, fixed, self.args)

    def judge_id(self, template: str) -> str:
        """The content hash of this judge with ``template``, stored with every score."""
        found = self._ids.get(template)
        if found is None:
            found = judge_id(self.args.kind, self.args.model, template, self.args.settings())
            self._ids[template] = found
        return found

    def check_question(self, question: Question, where: str) -> None:
        self.templates.check_question(question, where)

    def messages(self, item: ScoreItem):
        """The chat sent to the judge for one answer."""
        template = self.templates.for_question(item.question)
        question = item.prompt
        if self.args.hide is not None:
            where = f"scorer {self.args.name!r} hide, on the question {question[:40]!r}"
            question = subn(self.args.hide, "", question, where)[0]
        return judge_messages(self.args, template, question, item.answer)

    def calls(self, item: ScoreItem, context: ScoringContext) -> list[Call]:
        raise NotImplementedError

    def values(self, item: ScoreItem, replies: list[Reply]) -> ScoreValues:
        raise NotImplementedError

    def planned_calls(self, item: ScoreItem, cache) -> tuple[list[Call], bool]:
        """The calls scoring ``item`` needs, found without calling the judge: (calls,
        assumed), ``assumed`` True where a guess stood in for something not yet known."""
        return self.calls(item, ScoringContext(cache=cache)), False

    def score_batch(
        self, items: Sequence[ScoreItem], context: ScoringContext
    ) -> list[ScoreValues | None]:
        asked = [self.calls(item, context) for item in items]
        replies = self.caller.fetch([c for calls in asked for c in calls], context)
        out: list[ScoreValues | None] = []
        for item, calls in zip(items, asked, strict=True):
            got = [replies.get(c.key) for c in calls]
            if any(r is None for r in got):
                out.append(None)
                continue
            template = self.templates.for_question(item.question)
            values = self.values(item, [r for r in got if r is not None])
            out.append({**values, "judge": self.judge_id(template)})
        return out
