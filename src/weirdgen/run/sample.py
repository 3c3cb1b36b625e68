"""Sampling every model on every prompt, drawing only what the store lacks, and the tidy rows."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.progress import Progress

from weirdgen._failpoints import failpoint
from weirdgen.backends import Backend, ModelRef, SampleRequest
from weirdgen.backends.protocol import SamplingFailed, key_seed
from weirdgen.errors import WeirdgenError
from weirdgen.run._work import Work
from weirdgen.run.plan import PreparedCondition, Prompt, sample_key
from weirdgen.run.train import Variant
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
) -> list[dict]:
    """Every sample row of the run, drawing the ones the store lacks (one batch per model).

    Where some requests fail for good, the answers that did arrive are stored, the other
    models are still sampled, and then one WeirdgenError sums up what is missing.
    """
    rows: list[dict] = []
    failed: list[tuple[str, int, SamplingFailed]] = []
    lost: set[str] = set()  # sample keys no request could draw (conditions can share samples)
    task = bars.add_task("sample", total=sum(len(v) for v in variants.values()))
    wanted = {v.model.key: v.model for vs in variants.values() for v in vs}
    with backend.serving(list(wanted.values())):
        for prepared in conditions:
            for seed in spec.seeds:
                for variant in variants[prepared.condition.name, seed]:
                    ref = variant.model
                    planned: list[tuple[str, Prompt, int]] = [
                        (sample_key(ref.key, p.text, p.temperature, p.max_tokens, seed, i), p, i)
                        for p in asked
                        for i in range(p.n)
                    ]
                    answers = store.answers([k for k, _, _ in planned])
                    ended = store.finish_reasons([k for k, _, _ in planned])
                    missing = [(k, p, i) for k, p, i in planned if k not in answers]
                    if missing:
                        try:
                            got = _draw(backend, ref, seed, missing, store, lost)
                        except _Partial as partial:
                            failed.append((prepared.condition.name, seed, partial.error))
                            got = partial.got
                        answers.update({k: a for k, (a, _) in got.items()})
                        ended.update({k: e for k, (_, e) in got.items() if e is not None})
                        work.sampled += len(got)
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

    def __init__(self, got: dict[str, tuple[str, str | None]], error: SamplingFailed) -> None:
        super().__init__(str(error))
        self.got, self.error = got, error


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
    requests = [
        SampleRequest(p.messages, p.temperature, p.max_tokens, key_seed(k)) for k, p, _ in missing
    ]
    error = None
    complete = getattr(backend, "complete", None)
    try:
        drawn: list = list(complete(ref, requests) if complete else backend.sample(ref, requests))
    except SamplingFailed as failure:
        error = failure
        drawn = list(failure.completions)
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
