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
    ``max_nonnumeric`` (or nothing is numeric).
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
    first tokens, one list per number of PROBE_NUMBERS, do not hold the number itself."""
    out = []
    for number, top in zip(PROBE_NUMBERS, tops, strict=True):
        firsts = [str(t[0]).strip() for t in top]
        if number not in firsts:
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


class RatingJudge(Judge):
    """Outputs: ``<name>`` the rating, ``<name>_valid``, ``<name>_nonnumeric`` (the mass
    that was not a number, or the share of sampled replies without one), ``<name>_judge``."""

    kind = "rating_judge"
    Args = RatingJudgeArgs
    args: RatingJudgeArgs

    def __init__(self, args: RatingJudgeArgs, spec_dir: Path | None = None) -> None:
        # spec_dir in the signature: build_scorer passes it only to a class that names it
        super().__init__(args, spec_dir)
        self._sampled: bool | None = None
        self._planned: tuple[object, bool, bool] | None = None  # (cache, sampled, assumed)

    @cached_property
    def split(self) -> str | None:
        """The first number of the range the judge's own tokenizer splits ("" when none
        does), or None when its backend has no tokenizer here (the judge is asked)."""
        return split_number(self.backend, self.args.min_rating, self.args.max_rating)

    def probe_calls(self) -> list[Call]:
        """The calls that ask the judge to repeat 100 and 57 (see :meth:`sampled`)."""
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
        tokenizer decides."""
        return [] if self.split is not None else self.probe_calls()

    def planned_calls(self, item: ScoreItem, cache) -> tuple[list[Call], bool]:
        """The calls scoring ``item`` will need, without calling the judge: (calls, assumed),
        ``assumed`` True when the number probe is not in ``cache`` yet and single-token
        numbers (one logprob call per answer) are assumed."""
        if self._planned is None or self._planned[0] is not cache:
            if self.split is not None:
                self._planned = (cache, bool(self.split), False)
            else:
                probes = self.probe_calls()
                stored = cache.get([c.key for c in probes]) if cache is not None else {}
                if len(stored) < len(probes):
                    self._planned = (cache, False, True)
                else:
                    tops = [stored[c.key].response.get("top") or () for c in probes]
                    self._planned = (cache, bool(_unsaid(tops)), False)
        _, sampled, assumed = self._planned
        return self._calls(item, sampled), assumed

    def sampled(self, context: ScoringContext) -> bool:
        """Whether ratings must be sampled: the judge's tokenizer, where the backend has one
        here, does not hold every whole number of the range as one token; for an API judge,
        it does not say 100 and 57 as one token each (asked once, through the judge cache).
        Warns when ratings must be sampled."""
        if self._sampled is not None:
            return self._sampled
        if self.split is not None:
            self._sampled = bool(self.split)
            reason = f"the number {self.split} is not one token of its tokenizer"
        else:
            calls = self.probe_calls()
            replies = self.caller.fetch(calls, context)
            unsaid = _unsaid([replies[c.key].top if c.key in replies else () for c in calls])
            self._sampled = bool(unsaid)
            if unsaid:
                number, firsts = unsaid[0]
                reason = (
                    f"the number {number} is not one token of this model (its likeliest "
                    f"first tokens: {firsts[:3]})"
                )
        if self._sampled:
            context.warn(
                f"judge {self.args.name!r} ({self.args.model}): {reason}; rating by the mean "
                f"of {self.args.samples} sampled ratings instead of logprobs"
            )
        return self._sampled

    def calls(self, item: ScoreItem, context: ScoringContext) -> list[Call]:
        return self._calls(item, self.sampled(context))

    def _calls(self, item: ScoreItem, sampled: bool) -> list[Call]:
        messages, model = self.messages(item), self.caller.model.key
        if not sampled:
            return [make_call(model, messages, 0.0, 1, True)]
        return [
            make_call(model, messages, 1.0, 4, False, sample=i) for i in range(self.args.samples)
        ]

    def values(self, item: ScoreItem, replies: list[Reply]) -> ScoreValues:
        a = self.args
        if len(replies) == 1 and replies[0].top:
            score, other = expected_rating(
                replies[0].top, a.min_rating, a.max_rating, a.max_nonnumeric
            )
        else:
            score, other = sampled_rating([r.text for r in replies], a.min_rating, a.max_rating)
            if other > a.max_nonnumeric:
                score = None
        return {"score": score, "valid": score is not None, "nonnumeric": other}
