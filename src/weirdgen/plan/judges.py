"""Judge calls a run needs, per judge: exact for the answers already sampled (their calls'
cache keys, looked up in the judge cache; an answer whose score is stored needs none), and
``len(planned_calls)`` fresh calls for each answer still to sample.

A call that an earlier judge of the run makes too (the same model, messages and settings:
two judges with one prompt, or the number probe of one judge model) has one cache key, so
the run makes it once, for the judge listed first, and the judge cache answers the others.
The plan counts it the same way: to do in the first judge's row, ``shared`` in the others'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from weirdgen.plan.model import Row
from weirdgen.plan.prices import PriceTable
from weirdgen.plan.tokens import TokenCounter
from weirdgen.run.plan import Prompt
from weirdgen.score import ScoreItem
from weirdgen.score.judge.calls import Call
from weirdgen.store import Store
from weirdgen.store.judgments import JudgmentCache

UNSAMPLED = "\x00an answer not sampled yet\x00"
"""The answer a judge's calls are also rendered with, for answers not sampled yet: two
judges whose calls for it have one key make the same calls for every answer to the prompt."""


@dataclass
class _Tally:
    """One judge's calls: needed, stored, shared with an earlier judge, and what the rest
    costs in tokens."""

    judge: Any
    counter: TokenCounter
    made: dict[object, str]
    """Calls an earlier judge makes (a key, or a prompt's index and a key) -> that judge."""
    needed: int = 0
    stored: int = 0
    shared: int = 0
    prompt_tokens: int = 0
    completion: int = 0
    assumed: bool = False
    repeats: dict[str, str] = field(default_factory=dict)
    """The earlier judges whose calls this one repeats -> what it repeats of them."""
    mine: dict[object, str] = field(default_factory=dict)
    """The calls this judge makes, for the judges after it."""

    def call(
        self, key: object, call: Call, count: int = 1, answer_tokens: int = 0, probe: bool = False
    ) -> None:
        """``count`` calls not stored, ``key`` naming them: shared or to do."""
        if key in self.made:
            self.shared += count
            first = self.made[key]
            if not probe or self.repeats.get(first) != "calls":
                self.repeats[first] = "its number probe" if probe else "calls"
            return
        self.mine[key] = self.judge.args.name
        self.prompt_tokens += count * (self.counter.chat(call.messages) + answer_tokens)
        self.completion += count * call.max_tokens

    @property
    def todo(self) -> int:
        return self.needed - self.stored - self.shared


def judge_rows(
    judges: Sequence[Any],
    known: dict[str, ScoreItem],
    unknown: list[tuple[Prompt, int]],
    store: Store | None,
    cache: JudgmentCache | None,
    table: PriceTable,
) -> tuple[list[Row], list[str]]:
    """One row per judge (scorers with ``planned_calls``), in spec order, and notes.

    ``known`` holds the sampled answers by score item key; ``unknown`` how many answers each
    prompt still lacks. A call an earlier judge makes is ``shared``, not to do (see the
    module's docstring).
    """
    made: dict[object, str] = {}
    rows: list[Row] = []
    repeats: dict[str, dict[str, str]] = {}
    unprobed: dict[str, list[tuple[str, int]]] = {}  # model -> (judge, samples) that guessed
    for judge in judges:
        tally = _Tally(judge, TokenCounter(judge.backend), made)
        unscored = _sampled(tally, known, store, cache)
        unscored += _unsampled(tally, unknown, cache)
        if unscored:  # a probe is asked once, before the first answer
            probes = _probes(judge)
            there = set(cache.get([c.key for c in probes])) if cache is not None else set()
            tally.needed += len(probes)
            tally.stored += len(there & {c.key for c in probes})
            for probe in (c for c in probes if c.key not in there):
                tally.call(probe.key, probe, probe=True)
        made.update(tally.mine)
        name, model = judge.args.name, judge.args.model
        if tally.repeats:
            repeats[name] = tally.repeats
        assumed = tally.assumed and tally.todo > 0  # a guess about calls none of which is made
        usd: float | None = 0.0
        if tally.todo:
            price = table.find(model)
            usd = None if price is None else price.tokens(tally.prompt_tokens, tally.completion)
        rows.append(
            Row(
                "judge",
                name,
                model,
                tally.needed,
                tally.stored,
                tally.prompt_tokens,
                tally.completion,
                exact=tally.counter.exact,
                usd=usd,
                assumed=assumed,
                shared=tally.shared,
            )
        )
        if assumed:
            unprobed.setdefault(model, []).append((name, judge.args.samples))
    return rows, _notes(repeats, unprobed, bool(unknown and judges))


def _sampled(
    tally: _Tally,
    known: dict[str, ScoreItem],
    store: Store | None,
    cache: JudgmentCache | None,
) -> int:
    """Count the calls of the answers already sampled; return how many lack a score."""
    judge = tally.judge
    mine = {k: item for k, item in known.items() if judge.args.scores(item.eval_set)}
    scored = store.scores(judge.key, list(mine)) if store is not None and mine else {}
    needed: set[str] = set()
    pending: dict[str, Call] = {}  # calls of answers without a stored score
    for item_key, item in mine.items():
        calls, guessed = judge.planned_calls(item, cache)
        tally.assumed |= guessed
        for call in calls:
            needed.add(call.key)
            if item_key not in scored:
                pending[call.key] = call
    cached = set(cache.get(list(pending))) if cache is not None and pending else set()
    tally.needed += len(needed)
    tally.stored += len(needed) - len(pending) + len(cached)
    for key, call in pending.items():
        if key not in cached:
            tally.call(key, call)
    return len(mine) - len(scored)


def _unsampled(
    tally: _Tally, unknown: list[tuple[Prompt, int]], cache: JudgmentCache | None
) -> int:
    """Count the calls of the answers not sampled yet (each answer assumed ``max_tokens``
    long); return how many there are."""
    judge, answers = tally.judge, 0
    for index, (prompt, count) in enumerate(unknown):
        if not judge.args.scores(prompt.eval_set):
            continue
        answers += count
        calls, guessed = judge.planned_calls(
            ScoreItem(prompt.question, "", None, prompt.messages), cache
        )
        marks, _ = judge.planned_calls(
            ScoreItem(prompt.question, UNSAMPLED, None, prompt.messages), cache
        )
        tally.assumed |= guessed
        tally.needed += len(calls) * count
        for call, mark in zip(calls, marks, strict=True):
            tally.call((index, mark.key), call, count, prompt.max_tokens)
    return answers


def _notes(
    repeats: dict[str, dict[str, str]],
    unprobed: dict[str, list[tuple[str, int]]],
    unknown: bool,
) -> list[str]:
    notes = []
    if repeats:
        pairs = "; ".join(
            f"{name!r} repeats "
            + ", ".join(f"{j!r}" + ("" if w == "calls" else f" ({w})") for j, w in firsts.items())
            for name, firsts in repeats.items()
        )
        notes.append(
            f"shared calls are an earlier judge's, with the same model, messages and settings "
            f"({pairs}): the run makes each once and the judge cache answers the repeats"
        )
    for model, named in unprobed.items():
        names = ", ".join(repr(name) for name, _ in named)
        samples = "/".join(str(s) for s in dict.fromkeys(s for _, s in named))
        notes.append(
            f"{model} has not been asked the number probe yet, so judge {names} assumes its "
            f"numbers are single tokens (1 logprob call per answer); if not, each answer "
            f"takes {samples} sampled calls"
        )
    if unknown:
        notes.append(
            "for answers not sampled yet, judge prompts assume answers of max_tokens tokens "
            "and every answer is judged on its own; identical answers to one question are "
            "judged once, so the run may make fewer calls"
        )
    return notes


def _probes(judge: Any) -> list[Call]:
    """The calls a judge asks before its first answer (a rating judge's number probe)."""
    planned = getattr(judge, "planned_probes", None)
    return planned() if planned is not None else []
