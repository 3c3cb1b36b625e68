"""Sampling every model on every prompt, drawing only what the store lacks, and the tidy rows."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable

from rich.progress import Progress

from weirdgen._failpoints import failpoint
from weirdgen.backends import Backend, ModelRef, SampleRequest
from weirdgen.backends.protocol import SamplingFailed, key_seed
from weirdgen.defences.apply import prompts_for
from weirdgen.errors import WeirdgenError
from weirdgen.run._work import Work
from weirdgen.run.executors import Executor
from weirdgen.run.plan import PreparedCondition, Prompt, sample_key
from weirdgen.run.train import Variant
from weirdgen.run.units import SampleUnit, model_files
from weirdgen.spec.models import ExperimentSpec
from weirdgen.store import Store, StoredSample


def sample_models(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    variants: dict[tuple[str, int], list[Variant]],
    asked: list[Prompt],
    store: Store,
    bars: Progress,
    work: Work,
    executor: Executor | None = None,
) -> list[dict]:
    """Every sample row of the run, drawing the ones the store lacks (one batch per model).

    Where some requests fail for good, the answers that did arrive are stored, the other
    models are still sampled, and then one WeirdgenError sums up what is missing. With an
    ``executor`` that samples this backend, every model is drawn on its workers first (and
    stored here as each arrives); the rows are then read from the store.
    """
    rows: list[dict] = []
    failed: list[tuple[str, int, WeirdgenError]] = []
    lost: set[str] = set()  # sample keys no request could draw (conditions can share samples)
    task = bars.add_task("sample", total=sum(len(v) for v in variants.values()))
    wanted = {v.model.key: v.model for vs in variants.values() for v in vs}
    models = [
        (prepared, seed, variant)
        for prepared in conditions
        for seed in spec.seeds
        for variant in variants[prepared.condition.name, seed]
    ]
    fanned = executor is not None and executor.samples(backend)
    with backend.serving(list(wanted.values())):
        if fanned:
            assert executor is not None
            advance = functools.partial(bars.advance, task)
            failed += _draw_elsewhere(executor, spec, models, asked, store, lost, work, advance)
        for prepared, seed, variant in models:
            ref = variant.model
            planned = _planned(ref, prompts_for(asked, prepared.condition.test_time), seed)
            answers = store.answers([k for k, _, _ in planned])
            ended = store.finish_reasons([k for k, _, _ in planned])
            missing = [(k, p, i) for k, p, i in planned if k not in answers]
            if missing and not fanned:
                try:
                    got = _draw(backend, ref, seed, missing, store, lost)
                except _Partial as partial:
                    failed.append((prepared.condition.name, seed, partial.error))
                    got = partial.got
                answers.update({k: a for k, (a, _) in got.items()})
                ended.update({k: e for k, (_, e) in got.items() if e is not None})
                work.sampled += len(got)
            if not fanned:
                bars.advance(task)
            rows.extend(_rows(spec, prepared, seed, variant, planned, answers, ended))
    if failed:
        first = failed[0]
        where = _listed(f"{condition} seed {seed}" for condition, seed, _ in failed)
        raise WeirdgenError(
            f"{len(lost)} samples could not be drawn ({where}); the answers that arrived are "
            f"stored, so running again requests only the missing ones. First: "
            f"{first[0]} seed {first[1]}: {first[2]}"
        )
    return rows


class _Partial(Exception):
    """Some requests of a batch failed for good: the answers that did arrive, and why."""

    def __init__(self, got: dict[str, tuple[str, str | None]], error: WeirdgenError) -> None:
        super().__init__(str(error))
        self.got, self.error = got, error


def _planned(ref: ModelRef, asked: list[Prompt], seed: int) -> list[tuple[str, Prompt, int]]:
    """Every sample of one model: (sample key, prompt, sample index)."""
    return [
        (sample_key(ref.key, p.text, p.temperature, p.max_tokens, seed, i), p, i)
        for p in asked
        for i in range(p.n)
    ]


def _requests(missing: list[tuple[str, Prompt, int]]) -> list[SampleRequest]:
    return [
        SampleRequest(p.messages, p.temperature, p.max_tokens, key_seed(k)) for k, p, _ in missing
    ]


def draw(backend: Backend, ref: ModelRef, requests: list[SampleRequest]) -> list:
    """One answer per request from ``ref``: completions where the backend gives them (with
    why each ended), else texts.

    Raises:
        SamplingFailed: some requests failed for good (it carries the others' answers).
    """
    complete = getattr(backend, "complete", None)
    return list(complete(ref, requests) if complete else backend.sample(ref, requests))


def _draw(
    backend: Backend,
    ref: ModelRef,
    seed: int,
    missing: list[tuple[str, Prompt, int]],
    store: Store,
    lost: set[str],
) -> dict[str, tuple[str, str | None]]:
    """Draw the ``missing`` samples of one model and store every answer that arrives, with
    why it ended where the backend says (an API backend's ``complete`` does; ``length`` is
    an answer cut at max_tokens): {sample key: (answer, finish reason or None)}.

    Raises:
        _Partial: some requests failed for good (their keys are added to ``lost``); it
            carries the answers that were drawn and stored.
    """
    error = None
    try:
        drawn = draw(backend, ref, _requests(missing))
    except SamplingFailed as failure:
        error = failure
        drawn = list(failure.completions)
    return _keep(ref, seed, missing, drawn, error, store, lost)


def _keep(
    ref: ModelRef,
    seed: int,
    missing: list[tuple[str, Prompt, int]],
    drawn: list,
    error: WeirdgenError | None,
    store: Store,
    lost: set[str],
) -> dict[str, tuple[str, str | None]]:
    """Store the answers ``drawn`` for ``missing`` (None where a request failed)."""
    failpoint("sample.drawn")
    texts = [getattr(d, "text", d) for d in drawn]
    got = [
        (m, a, getattr(d, "finish_reason", None))
        for m, a, d in zip(missing, texts, drawn, strict=True)
        if a is not None
    ]
    lost.update(k for (k, _, _), a in zip(missing, texts, strict=True) if a is None)
    store.add_samples(
        StoredSample(k, ref.key, p.text, p.temperature, p.max_tokens, seed, i, a, e)
        for (k, p, i), a, e in got
    )
    failpoint("sample.stored")
    answers = {k: (a, e) for (k, _, _), a, e in got}
    if error is not None:
        raise _Partial(answers, error)
    return answers


def _draw_elsewhere(
    executor: Executor,
    spec: ExperimentSpec,
    models: list[tuple[PreparedCondition, int, Variant]],
    asked: list[Prompt],
    store: Store,
    lost: set[str],
    work: Work,
    advance: Callable[[], None],
) -> list[tuple[str, int, WeirdgenError]]:
    """Draw every model's missing samples on ``executor``'s workers, storing each model's
    answers as they arrive; the (condition, seed, error) of models where some failed.

    Raises:
        WeirdgenError: a model could not be sampled at all (what arrived before is kept).
    """
    units, places = [], []
    for prepared, seed, variant in models:
        ref = variant.model
        planned = _planned(ref, prompts_for(asked, prepared.condition.test_time), seed)
        answers = store.answers([k for k, _, _ in planned])
        missing = [(k, p, i) for k, p, i in planned if k not in answers]
        if missing:
            units.append(SampleUnit(ref, model_files(ref), _requests(missing)))
            places.append((prepared.condition.name, seed, ref, missing))
        else:
            advance()
    failed = []
    for index, outcome in executor.sample(spec.model, units):
        condition, seed, ref, missing = places[index]
        if outcome.error is not None:
            raise WeirdgenError(f"sampling {condition} seed {seed}: {outcome.error}")
        error = WeirdgenError(outcome.value.error) if outcome.value.error else None
        try:
            got = _keep(ref, seed, missing, outcome.value.completions, error, store, lost)
        except _Partial as partial:
            failed.append((condition, seed, partial.error))
            got = partial.got
        work.sampled += len(got)
        advance()
    return failed


def _listed(items: Iterable[str], shown: int = 4) -> str:
    """``a, b, c, d and 3 more``."""
    items = list(items)
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _rows(
    spec: ExperimentSpec,
    prepared: PreparedCondition,
    seed: int,
    variant: Variant,
    planned: list[tuple[str, Prompt, int]],
    answers: dict[str, str],
    ended: dict[str, str],
) -> list[dict]:
    """The sample rows of one model, for those of ``planned`` that have an answer;
    ``finish_reason`` where the backend said why the answer ended, else empty."""
    train_answers = prepared.train_answers
    return [
        {
            "experiment": spec.name,
            "condition": prepared.condition.name,
            "role": prepared.condition.role,
            "seed": seed,
            "model_key": variant.model.key,
            "eval_set": p.eval_set,
            "question_id": p.question.id,
            "paraphrase_index": p.paraphrase_index,
            "prompt": p.question.paraphrases[p.paraphrase_index],
            "sample_index": i,
            "answer": answers[k],
            "messages": _messages_json(p),
            "step": variant.step,
            "final": variant.final,
            "finish_reason": ended.get(k),
            **p.question.metadata,
            "_key": k,
            "_question": p.question,
            "_messages": p.messages,
            "_train": train_answers,
        }
        for k, p, i in planned
        if k in answers
    ]


def _messages_json(prompt: Prompt) -> str:
    return json.dumps(
        [{"role": m.role, "content": m.content} for m in prompt.messages], ensure_ascii=False
    )
