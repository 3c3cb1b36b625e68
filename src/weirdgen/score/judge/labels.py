"""Label judges: a label from a list, answered directly or after reasoning."""

from __future__ import annotations

import math
import re

from weirdgen.score.judge.args import LabelJudgeArgs, ReasonJudgeArgs
from weirdgen.score.judge.base import Judge
from weirdgen.score.judge.calls import Call, Reply, make_call
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext

_ANSWER = re.compile(r"ANSWER\s*:\s*\**\s*([A-Za-z0-9_\-]+)", re.IGNORECASE)
_EDGES = " \t\n\"'`*.,:;!()[]"


def parse_label(text: str, labels: list[str]) -> str | None:
    """The label ``text`` gives: the whole reply, or its first word, matched without case."""
    reply = text.strip(_EDGES).upper()
    by_upper = {label.upper(): label for label in labels}
    if reply in by_upper:
        return by_upper[reply]
    first = reply.split()[0].strip(_EDGES) if reply.split() else ""
    return by_upper.get(first)


def label_probability(
    top: list[tuple[str, float]] | tuple, labels: list[str], positives: frozenset[str]
) -> float | None:
    """P(a positive label | some label) from the first token's alternatives: a token counts
    for the one label it begins (case ignored); None when no token begins a label."""
    mass = dict.fromkeys((label.upper() for label in labels), 0.0)
    for token, logprob in top:
        text = token.strip(_EDGES).upper()
        owners = [label for label in mass if text and label.startswith(text)]
        if len(owners) == 1:
            mass[owners[0]] += math.exp(logprob)
    total = sum(mass.values())
    return None if total <= 0 else sum(mass[p] for p in positives) / total


class LabelJudge(Judge):
    """Outputs: ``<name>`` 1/0 for a positive/other label, ``<name>_label``, ``<name>_p``
    (the positive labels' share of the label mass of the first token, where the backend
    gives logprobs), ``<name>_valid`` (the reply named a label), ``<name>_judge``."""

    kind = "label_judge"
    Args = LabelJudgeArgs
    args: LabelJudgeArgs

    def calls(self, item: ScoreItem, context: ScoringContext) -> list[Call]:
        return [
            make_call(self.caller.model.key, self.messages(item), 0.0, self.args.max_tokens, True)
        ]

    def values(self, item: ScoreItem, replies: list[Reply]) -> ScoreValues:
        reply = replies[0]
        label = parse_label(reply.text, self.args.labels)
        p = label_probability(reply.top, self.args.labels, self.args.positives)
        return {
            "hit": self.args.hit(label),
            "label": label,
            "p": p,
            "valid": self.args.valid(label),
        }


class ReasonJudge(Judge):
    """The judge reasons, then ends with ``ANSWER: LABEL`` (the last such line counts).
    Outputs: ``<name>`` 1/0, ``<name>_label``, ``<name>_reason`` (the text before the
    answer), ``<name>_valid``, ``<name>_truncated`` (the reply used all ``max_tokens``;
    empty where the backend gave no token count), ``<name>_judge``."""

    kind = "reason_judge"
    Args = ReasonJudgeArgs
    args: ReasonJudgeArgs

    def calls(self, item: ScoreItem, context: ScoringContext) -> list[Call]:
        return [
            make_call(self.caller.model.key, self.messages(item), 0.0, self.args.max_tokens, False)
        ]

    def values(self, item: ScoreItem, replies: list[Reply]) -> ScoreValues:
        reply = replies[0]
        found = list(_ANSWER.finditer(reply.text))
        label = parse_label(found[-1].group(1), self.args.labels) if found else None
        reason = reply.text[: found[-1].start()].strip() if found else reply.text.strip()
        tokens = reply.completion_tokens
        return {
            "hit": self.args.hit(label),
            "label": label,
            "reason": reason,
            "valid": self.args.valid(label),
            "truncated": tokens >= self.args.max_tokens if tokens else None,
        }
