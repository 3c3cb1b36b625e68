"""weirdgen's scorers as Inspect scorers, and a spec's metrics as an Inspect metric.

:func:`experiment_scorer` scores a weirdgen task's samples with every scorer of its spec, as a
run scores them (same questions, metadata and training answers); its value holds one entry per
score column of the samples table, and its metadata each scorer's raw values under its
content key, which ``weirdgen import`` stores as they are. :func:`experiment_metrics` computes
the spec's metrics (the headline first) over an evaluation: one model, condition and seed,
so each is what a run's seed_metrics.csv holds for that seed. :func:`weirdgen_score` wraps
one scorer for any Inspect task. LLM judges call their model through Inspect
(:mod:`weirdgen.inspect.judges`); ``--model-role grader=provider/model`` replaces it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
from inspect_ai.model import GenerateConfig, Model, get_model
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    mean,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from weirdgen.backends.protocol import as_chat
from weirdgen.inspect.experiment import Experiment, registered
from weirdgen.inspect.judges import InspectJudgeModel, judging
from weirdgen.inspect.solver import INFO
from weirdgen.score import ScoreItem, ScoringContext, build_scorer
from weirdgen.score import Scorer as WeirdgenScorer
from weirdgen.score.judge.args import JudgeArgs
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question
from weirdgen.stats import seed_metrics
from weirdgen.store.judgments import JudgmentCache
from weirdgen.store.registry import Registry

log = logging.getLogger("weirdgen.inspect")
GRADER = "grader"
"""The Inspect model role that, where given, replaces the model of every LLM judge."""


async def inspect_scorers(experiment: Experiment) -> list[WeirdgenScorer]:
    """The spec's scorers, each LLM judge calling its model (or the ``grader`` role's)
    through Inspect; built once per experiment."""
    built = getattr(experiment, "_inspect_scorers", None)
    if built is None:
        spec = experiment.spec
        spec_dir = spec.source.parent if spec.source else None
        built = [_inspect_scorer(entry, spec_dir) for entry in spec.scorers]
        experiment._inspect_scorers = built  # type: ignore[attr-defined]
    return built


def _inspect_scorer(entry: ScorerSpec, spec_dir: Path | None) -> WeirdgenScorer:
    """One scorer of a spec entry; a judge's model is reached through Inspect."""
    if not isinstance(entry.args, JudgeArgs):
        return build_scorer(entry, spec_dir)
    model = get_model(role=GRADER, default=_judge_model(entry.args))
    if str(model) != entry.args.model:  # the judge is another model: its values key so
        entry = ScorerSpec.model_validate({**entry.model_dump(), "model": str(model)})
    judge = build_scorer(entry, spec_dir)
    judge.__dict__["backend"] = InspectJudgeModel(model)  # instead of weirdgen's own client
    return judge


JUDGE_ATTEMPTS = 6
"""Attempts per judge call through Inspect, as weirdgen's own client makes; Inspect's default
is to retry without end, so an endpoint that never answers would hold the evaluation."""


def _judge_model(args: JudgeArgs) -> Model:
    """The judge's model in Inspect; an ``openai/`` judge speaks chat completions (as weirdgen's
    own client does, with the top logprobs a rating reads) at its ``base_url``, if it has one.

    Each call is bounded as weirdgen's own client bounds it: the judge's ``timeout`` (120 s by
    default) per attempt, six attempts. ``inspect eval --max-retries`` or ``--timeout``, where
    given, replace these (Inspect gives the evaluation's settings to every model it calls)."""
    config = GenerateConfig(
        max_retries=JUDGE_ATTEMPTS - 1, attempt_timeout=math.ceil(args.timeout or 120)
    )
    if not args.model.startswith("openai/"):
        return get_model(args.model, config=config)
    return get_model(args.model, config=config, base_url=args.base_url, responses_api=False)


def _context() -> ScoringContext:
    return ScoringContext(warn=log.warning, cache=JudgmentCache(Registry()))


def _plain(value: Any) -> Any:
    """A value Inspect logs as it is: NaN as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


@scorer(metrics=[], name="weirdgen_scores")
def experiment_scorer(experiment: str) -> Scorer:
    """Every scorer of a weirdgen task's spec on each answer.

    Args:
        experiment: the token of the experiment the task registered.
    """

    async def score(state: TaskState, target: Target) -> Score:
        known = registered(experiment)
        info = state.metadata[INFO]
        prompt = known.prompts[info["eval_set"], info["question_id"], info["paraphrase_index"]]
        answer = state.output.completion
        train = known.train_answers(info.get("condition"))
        item = ScoreItem(prompt.question, answer, train, prompt.messages, prompt.eval_set)
        mine = [s for s in await inspect_scorers(known) if s.args.scores(prompt.eval_set)]
        context = _context()
        found = await judging(lambda: [s.score_batch([item], context)[0] for s in mine])
        columns: dict[str, Any] = {}
        raw: dict[str, dict[str, Any]] = {}
        for s, values in zip(mine, found, strict=True):
            if values is None:  # a judge call failed: no values, as in a run
                continue
            raw[s.args.name] = {"key": s.key, "values": values}
            for output, column in s.args.columns().items():
                value = _plain(values.get(output))
                if isinstance(value, int | float):  # labels and judge ids: in the metadata
                    columns[column] = value
        return Score(value=columns, answer=answer, metadata={INFO: raw})

    return score


@metric(name="weirdgen_metrics")
def experiment_metrics(experiment: str) -> Metric:
    """The spec's metrics over one evaluation (one model, condition and seed), computed as a
    run computes each seed's: ``{metric: value}``, ``metric[key=value]`` per value of a
    metric's ``by`` keys; a metric with no counting answer is left out."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        known = registered(experiment)
        rows = []
        for s in scores:
            meta = s.sample_metadata or {}
            info = meta.get(INFO, {})
            values = s.score.value if isinstance(s.score.value, dict) else {}
            rows.append(
                {
                    **{k: v for k, v in meta.items() if k != INFO},
                    "condition": info.get("condition") or "inspect",
                    "role": "target",
                    "seed": info.get("seed", 0),
                    "eval_set": info.get("eval_set"),
                    "question_id": info.get("question_id"),
                    **values,
                }
            )
        frame = pd.DataFrame(rows)
        present = set(frame["eval_set"]) if not frame.empty else set()
        metrics = [m for m in known.spec.metrics if m.score in frame and m.eval_set in present]
        if not metrics:  # also while the first answers come in
            return {}
        table = seed_metrics(frame, metrics)
        out: dict[str, float] = {}
        for _, row in table.iterrows():
            keys = [f"{k}={row[k]}" for m in metrics if m.name == row["metric"] for k in m.by]
            name = row["metric"] + (f"[{','.join(keys)}]" if keys else "")
            if not pd.isna(row["value"]):
                out[name] = float(row["value"])
        return out

    return compute


@scorer(metrics=[mean(), stderr()], name="weirdgen_score")
def weirdgen_score(kind: str, name: str | None = None, **args: Any) -> Scorer:
    """One weirdgen scorer for any Inspect task (``weirdgen scorers`` lists the kinds and
    their arguments): its main value as the score, all its values in the metadata.

    The question is the sample's input, its ``topic`` and other metadata the sample's
    (the organism's lexicon scorers read ``topic``); there are no training answers.
    """
    entry = ScorerSpec.model_validate({"name": name or kind, "kind": kind, **args})
    built: list[WeirdgenScorer] = []  # made at the first answer, where the grader role is known

    async def score(state: TaskState, target: Target) -> Score:
        if not built:
            built.append(_inspect_scorer(entry, None))
        meta = {k: v for k, v in state.metadata.items() if isinstance(v, str | int | float)}
        question = Question(
            id=str(state.sample_id),
            topic=meta.pop("topic", None),
            paraphrases=[state.input_text],
            metadata={k: v for k, v in meta.items() if not isinstance(v, bool)},
        )
        chat = as_chat([{"role": m.role, "content": m.text} for m in state.messages[:-1]])
        item = ScoreItem(question, state.output.completion, None, chat or (), "")
        context = _context()
        values = await judging(lambda: built[0].score_batch([item], context)[0])
        if values is None:
            return Score(value=math.nan, explanation="the judge's calls failed")
        main = next(iter(entry.args.columns()))
        value = _plain(values.get(main))
        number = float(value) if isinstance(value, int | float) else math.nan
        return Score(value=number, answer=state.output.completion, metadata=values)

    return score
