"""The 0-100 rating judge: the expected rating under the judge's first-token distribution."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from weirdgen.backends.protocol import as_chat
from weirdgen.score.judge.args import RatingJudgeArgs
from weirdgen.score.judge.base import Judge
from weirdgen.score.judge.calls import Call, Reply, make_call
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext

PROBE_NUMBERS = ("100", "57")
"""Numbers a judge is asked to repeat to see whether its numbers are single tokens."""
_INTEGER = re.compile(r"\d{1,4}")
_LEADING = re.compile(r"^\D{0,12}?(\d{1,4})(?!\d)")


def expected_rating(
    top: Sequence[tuple[str, float]], lo: int, hi: int, max_nonnumeric: float
) -> tuple[float | None, float]:
    """(expected rating, non-numeric mass) from a first token's top alternatives.

    Tokens whose text (stripped) is a whole number in [lo, hi] are the numeric mass; the
    rest of the probability, listed or not, is non-numeric. The rating is the mean of the
    numbers weighted by their probability, None when the non-numeric mass exceeds
    ``max_nonnumeric`` (or nothing is numeric). With 0.75, the default of
    :class:`RatingJudgeArgs`, that is a numeric mass below 0.25: Emergent Misalignment's
    judge gives no score there, llmcomp's RatingJudge none at 0.25 or below.
    """
    mass = weighted = 0.0
    for token, logprob in top:
        text = token.strip()
        if _INTEGER.fullmatch(text) and lo <= int(text) <= hi:
            p = math.exp(logprob)
            mass += p
            weighted += int(text) * p
    nonnumeric = min(1.0, max(0.0, 1.0 - mass))
    if mass <= 0 or nonnumeric > max_nonnumeric:
        return None, nonnumeric
    return weighted / mass, nonnumeric


def split_number(backend: object, lo: int, hi: int) -> str | None:
    """The first whole number in [lo, hi] that the backend's own tokenizer splits into
    several tokens ("" when none does), or None when the backend has no tokenizer here
    (an API: the judge is then asked, see ``RatingJudge.sampled``)."""
    organism = getattr(backend, "organism", None)
    if organism is not None:  # word-level: a number is one token exactly when it is a word
        vocabulary = organism.tokenizer.stoi
        return next((str(n) for n in range(lo, hi + 1) if str(n) not in vocabulary), "")
    tokenizer = getattr(type(backend), "tokenizer", None) and backend.tokenizer
    encode = getattr(tokenizer, "encode", None)
    if encode is None:
        return None
    for n in range(lo, hi + 1):
        ids = encode(str(n), add_special_tokens=False)
        if len(ids) != 1 or tokenizer.decode(ids).strip() != str(n):  # split, or unknown
            return str(n)
    return ""


def _unsaid(tops: Sequence[Sequence[Sequence]]) -> list[tuple[str, list[str]]]:
    """The probe numbers (with the first tokens the judge gave instead) whose reply's top
    first tokens, one list per number of PROBE_NUMBERS, do not hold the number itself. A reply
    without logprobs says nothing about the judge's tokens and is passed over."""
    out = []
    for number, top in zip(PROBE_NUMBERS, tops, strict=True):
        firsts = [str(t[0]).strip() for t in top]
        if firsts and number not in firsts:
            out.append((number, firsts))
    return out


def sampled_rating(texts: Sequence[str], lo: int, hi: int) -> tuple[float | None, float]:
    """(mean rating, share of replies without one) over sampled replies."""
    ratings = []
    for text in texts:
        found = _LEADING.match(text.strip())
        if found and lo <= int(found.group(1)) <= hi:
            ratings.append(int(found.group(1)))
    missing = 1 - len(ratings) / len(texts) if texts else 1.0
    return (sum(ratings) / len(ratings) if ratings else None), missing


TEXT_TOKENS = 4
"""Most tokens of a reply read as text (a sampled rating, or ``ratings: text``)."""


class RatingJudge(Judge):
    """Outputs: ``<name>`` the rating, ``<name>_valid``, ``<name>_nonnumeric`` (the mass
    that was not a number, or the share of replies without one; empty for a reply without
    logprobs), ``<name>_method`` (how the rating was made: one of
    :data:`weirdgen.score.judge.args.RATING_METHODS`),
    ``<name>_judge``."""

    kind = "rating_judge"
    Args = RatingJudgeArgs
    args: RatingJudgeArgs

    def __init__(self, args: RatingJudgeArgs, spec_dir: Path | None = None) -> None:
        # spec_dir in the signature: build_scorer passes it only to a class that names it
        super().__init__(args, spec_dir)
        self._method: str | None = None
        self._probe_failed: ScoringContext | None = None  # the run whose probe failed
        self._planned: tuple[object, str, bool] | None = None  # (cache, method, assumed)

    @cached_property
    def split(self) -> str | None:
        """The first number of the range the judge's own tokenizer splits ("" when none
        does), or None when its backend has no tokenizer here (the judge is asked)."""
        return split_number(self.backend, self.args.min_rating, self.args.max_rating)

    def probe_calls(self) -> list[Call]:
        """The calls that ask the judge to repeat 100 and 57 (see :meth:`method`)."""
        return [
            make_call(
                self.caller.model.key,
                as_chat(f"Reply with the number {n} and nothing else."),
                0.0,
                1,
                True,
                probe="numbers",
            )
            for n in PROBE_NUMBERS
        ]

    def planned_probes(self) -> list[Call]:
        """The probe calls this judge makes before its first answer: none where its own
        tokenizer decides or where it reads ratings as text."""
        if self.args.ratings == "text" or self.split is not None:
            return []
        return self.probe_calls()

    def planned_calls(self, item: ScoreItem, cache) -> tuple[list[Call], bool]:
        """The calls scoring ``item`` will need, without calling the judge: (calls, assumed),
        ``assumed`` True when the number probe is not in ``cache`` yet and single-token
        numbers (one logprob call per answer) are assumed."""
        if self._planned is None or self._planned[0] is not cache:
            if self.args.ratings == "text":
                self._planned = (cache, "text", False)
            elif self.split is not None:
                self._planned = (cache, "sampled" if self.split else "logprobs", False)
            else:
                probes = self.probe_calls()
                stored = cache.get([c.key for c in probes]) if cache is not None else {}
                if len(stored) < len(probes):
                    self._planned = (cache, "logprobs", True)
                else:
                    tops = [stored[c.key].response.get("top") or () for c in probes]
                    self._planned = (cache, "sampled" if _unsaid(tops) else "logprobs", False)
        _, method, assumed = self._planned
        return self._calls(item, method), assumed

    def method(self, context: ScoringContext) -> str | None:
        """How this judge rates (``logprobs``, ``sampled`` or ``text``), or None when that cannot be
        known yet: the number probe failed in this run (its calls are counted as failed and
        never stored, so the next run asks again).

        ``text`` where the spec asks for it; else ``sampled`` where the judge's numbers are
        not single tokens: its tokenizer's, where the backend has one here, or, for an API
        judge, its replies to the number probe (asked once, through the judge cache), and
        ``logprobs`` otherwise. Warns when ratings must be sampled.
        """
        if self._method is not None:
            return self._method
        if self.args.ratings == "text":
            self._method = "text"
            return self._method
        if self.split is not None:
            method = "sampled" if self.split else "logprobs"
            reason = f"the number {self.split} is not one token of its tokenizer"
        elif self._probe_failed is context:
            return None
        else:
            calls = self.probe_calls()
            replies = self.caller.fetch(calls, context)
            if any(c.key not in replies for c in calls):
                self._probe_failed = context
                context.warn(
                    f"judge {self.args.name!r} ({self.args.model}): the number probe failed, "
                    "so whether its ratings can come from logprobs is not known and no answer "
                    "is judged by it in this run; the same command asks again"
                )
                return None
            unsaid = _unsaid([replies[c.key].top for c in calls])
            method = "sampled" if unsaid else "logprobs"
            if unsaid:
                number, firsts = unsaid[0]
                reason = (
                    f"the number {number} is not one token of this model (its likeliest "
                    f"first tokens: {firsts[:3]})"
                )
        if method == "sampled":
            context.warn(
                f"judge {self.args.name!r} ({self.args.model}): {reason}; rating by the mean "
                f"of {self.args.samples} sampled ratings instead of logprobs"
            )
        self._method = method
        return method

    def score_batch(
        self, items: Sequence[ScoreItem], context: ScoringContext
    ) -> list[ScoreValues | None]:
        if self.method(context) is None:  # which calls to make is not known: none is made
            return [None] * len(items)
        values = super().score_batch(items, context)
        self._count_without_logprobs(values, context)
        return values

    def calls(self, item: ScoreItem, context: ScoringContext) -> list[Call]:
        method = self.method(context)
        assert method is not None, "score_batch asks for calls only once the method is known"
        return self._calls(item, method)

    def _calls(self, item: ScoreItem, method: str) -> list[Call]:
        messages, model = self.messages(item), self.caller.model.key
        if method == "logprobs":
            return [make_call(model, messages, 0.0, 1, True)]
        if method == "text":
            return [make_call(model, messages, 0.0, TEXT_TOKENS, False)]
        return [
            make_call(model, messages, 1.0, TEXT_TOKENS, False, sample=i)
            for i in range(self.args.samples)
        ]

    def values(self, item: ScoreItem, replies: list[Reply]) -> ScoreValues:
        a, method = self.args, self._method
        if method == "logprobs":
            top = replies[0].top
            if not top:  # no logprobs came back: no rating, not the text read as one
                return {"score": None, "valid": False, "nonnumeric": None, "method": method}
            score, other = expected_rating(top, a.min_rating, a.max_rating, a.max_nonnumeric)
        else:
            texts = [r.text for r in replies]
            score, other = sampled_rating(texts, a.min_rating, a.max_rating)
            if other > a.max_nonnumeric:
                score = None
        return {"score": score, "valid": score is not None, "nonnumeric": other, "method": method}

    def _count_without_logprobs(
        self, values: Sequence[ScoreValues | None], context: ScoringContext
    ) -> None:
        """Count the replies that came without the logprobs asked for (their answers have no
        rating), with one warning per judge and run, when the first come."""
        missing = sum(
            1 for v in values if v and v["method"] == "logprobs" and v["nonnumeric"] is None
        )
        if not missing:
            return
        counts = context.counts(self.args.name)
        if not counts.no_logprobs:
            judged = sum(1 for v in values if v)
            name = self.args.name
            context.warn(
                f"judge {name!r} ({self.args.model}): {missing} of {judged} replies came "
                f"without logprobs, so those answers have no rating ({name} empty, "
                f"{name}_valid false), not one read from the text; judge with an endpoint "
                "that returns logprobs, or set ratings: text on this judge to read the number "
                "it writes"
            )
        counts.no_logprobs += missing
