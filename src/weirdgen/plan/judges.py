"""Judge calls a run needs, per judge: exact for the answers already sampled (their calls'
cache keys, looked up in the judge cache; an answer whose score is stored needs none), and
``len(planned_calls)`` fresh calls for each answer still to sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weirdgen.plan.model import Row
from weirdgen.plan.prices import PriceTable
from weirdgen.plan.tokens import TokenCounter
from weirdgen.run.plan import Prompt
from weirdgen.score import ScoreItem
from weirdgen.score.judge.calls import Call
from weirdgen.store import Store
from weirdgen.store.judgments import JudgmentCache


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
    prompt still lacks. A call another judge already counts (the same model, messages and
    settings: shared number probes, say) is counted once, where it first appears, as the
    run's judge cache makes it once.
    """
    counted: set[str] = set()
    rows: list[Row] = []
    notes: list[str] = []
    unprobed: dict[str, list[tuple[str, int]]] = {}  # model -> (judge, samples) that guessed
    for judge in judges:
        counter = TokenCounter(judge.backend)
        mine = {k: item for k, item in known.items() if judge.args.scores(item.eval_set)}
        waiting = [(p, n) for p, n in unknown if judge.args.scores(p.eval_set)]
        scored = store.scores(judge.key, list(mine)) if store is not None and mine else {}
        needed: set[str] = set()
        pending: dict[str, Call] = {}  # calls of answers without a stored score
        assumed = False
        for item_key, item in mine.items():
            calls, guessed = judge.planned_calls(item, cache)
            assumed |= guessed
            for call in calls:
                if call.key in counted:
                    continue
                needed.add(call.key)
                if item_key not in scored:
                    pending[call.key] = call
        cached = set(cache.get(list(pending))) if cache is not None and pending else set()
        todo = [c for k, c in pending.items() if k not in cached]
        prompt_tokens = sum(counter.chat(c.messages) for c in todo)
        completion = sum(c.max_tokens for c in todo)
        fresh = 0
        for prompt, count in waiting:  # the answer is not known: assume max_tokens of it
            calls, guessed = judge.planned_calls(
                ScoreItem(prompt.question, "", None, prompt.messages), cache
            )
            assumed |= guessed
            fresh += len(calls) * count
            prompt_tokens += count * sum(
                counter.chat(c.messages) + prompt.max_tokens for c in calls
            )
            completion += count * sum(c.max_tokens for c in calls)
        total, stored = len(needed) + fresh, len(needed) - len(todo)
        unscored = len(mine) - len(scored) + sum(count for _, count in waiting)
        if unscored:  # a probe is asked once, before the first answer
            probes = [c for c in _probes(judge) if c.key not in counted]
            there = set(cache.get([c.key for c in probes])) if cache is not None else set()
            total, stored = total + len(probes), stored + len(there & {c.key for c in probes})
            for probe in (c for c in probes if c.key not in there):
                prompt_tokens += counter.chat(probe.messages)
                completion += probe.max_tokens
            counted.update(c.key for c in probes)
        counted.update(needed)
        model = judge.args.model
        assumed = assumed and total > stored  # a guess about calls none of which is made
        usd: float | None = 0.0
        if total > stored:
            price = table.find(model)
            usd = None if price is None else price.tokens(prompt_tokens, completion)
        rows.append(
            Row(
                "judge",
                judge.args.name,
                model,
                total,
                stored,
                prompt_tokens,
                completion,
                exact=counter.exact,
                usd=usd,
                assumed=assumed,
            )
        )
        if assumed:
            unprobed.setdefault(model, []).append((judge.args.name, judge.args.samples))
    for model, named in unprobed.items():
        names = ", ".join(repr(name) for name, _ in named)
        samples = "/".join(str(s) for s in dict.fromkeys(s for _, s in named))
        notes.append(
            f"{model} has not been asked the number probe yet, so judge {names} assumes its "
            f"numbers are single tokens (1 logprob call per answer); if not, each answer "
            f"takes {samples} sampled calls"
        )
    if unknown and judges:
        notes.append(
            "for answers not sampled yet, judge prompts assume answers of max_tokens tokens "
            "and every answer is judged on its own; identical answers to one question are "
            "judged once, so the run may make fewer calls"
        )
    return rows, notes


def _probes(judge: Any) -> list[Call]:
    """The calls a judge asks before its first answer (a rating judge's number probe)."""
    planned = getattr(judge, "planned_probes", None)
    return planned() if planned is not None else []
