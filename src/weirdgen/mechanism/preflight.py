"""Preflight: score a finetuning dataset from the base model alone, before anyone trains.

Four measures, each with the evidence behind it (see docs/mechanism.md, "Preflight"):

- ``in_context``: the spec's headline metric with K examples of the dataset as earlier turns
  of the chat, minus the same questions asked alone (the base model's own answers);
- ``surprise``: the dataset's mean loss per assistant token under the base model;
- ``projection:<name>``: per known direction, the residual stream's projection on it with
  the examples in context minus without;
- ``proxy``: the headline after a short finetune of a small local model on the dataset,
  minus that model's own.

They are evidence of how far a finetune may shift the model, not a verdict: how well each
predicts the finetuned effect is what ``scripts/preflight_validation.py`` measures.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from weirdgen.backends import Backend, get_backend
from weirdgen.backends.protocol import Chat
from weirdgen.data import assistant_answers
from weirdgen.data.text import normalize
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import preflight_context as context
from weirdgen.mechanism.directions import Direction
from weirdgen.mechanism.preflight_files import KIND, check_out, inputs_key, write_outputs
from weirdgen.mechanism.preflight_inputs import (
    LOCAL_PROVIDERS,
    PreflightDataset,
    evaluation_spec,
    headline,
    headline_prompts,
    load_dataset,
    proxy_model_for,
)
from weirdgen.mechanism.preflight_projection import projection_measure
from weirdgen.mechanism.preflight_proxy import DEFAULT_STEPS, proxy_recipe, train_proxy
from weirdgen.mechanism.preflight_shift import (
    Measure,
    in_context_measure,
    interval_text,
    proxy_measure,
)
from weirdgen.mechanism.preflight_surprise import example_losses, surprise_measure
from weirdgen.run.plan import Prompt, build_scorers, check_scorable, with_overrides
from weirdgen.score import Scorer, ScoringContext
from weirdgen.spec.models import ExperimentSpec, MetricSpec

NOTE = (
    "Preflight measures are evidence of how far finetuning on the dataset may shift the "
    "model, measured on the base model before training; they are not a verdict."
)


@dataclass
class PreflightResult:
    """A preflight's measures, its scored samples and the inputs that decide them."""

    dataset: str
    model: str
    questions: str
    headline: str
    k: int
    seed: int
    measures: list[Measure]
    samples: pd.DataFrame
    inputs: dict[str, Any]

    def table(self) -> pd.DataFrame:
        """One row per measure: value, interval, what it is over, and its evidence."""
        return pd.DataFrame(
            {
                "measure": m.name,
                "value": m.value,
                "low": m.low,
                "high": m.high,
                "interval": interval_text(m),
                "over": m.over,
                "evidence": m.evidence,
            }
            for m in self.measures
        )

    def to_json(self) -> dict[str, Any]:
        """Everything but the samples (preflight.json)."""
        return {
            "kind": KIND,
            "note": NOTE,
            "dataset": self.dataset,
            "model": self.model,
            "questions": self.questions,
            "headline": self.headline,
            "k": self.k,
            "seed": self.seed,
            "inputs": self.inputs,
            "inputs_key": inputs_key(self.inputs),
            "measures": [asdict(m) for m in self.measures],
        }


@dataclass
class _Plan:
    """A preflight with every input loaded and checked, before anything is computed."""

    model: str
    backend: Backend
    questions: ExperimentSpec
    metric: MetricSpec
    data: PreflightDataset
    out: Path
    scorers: list[Scorer]
    asked: list[Prompt]
    contexts: list[Chat]
    k: int
    directions: list[Direction]
    proxy: tuple[str, Backend, ExperimentSpec] | None


def preflight(
    dataset: str,
    model: str | None = None,
    spec: ExperimentSpec | None = None,
    k: int | None = None,
    directions: Sequence[Path] = (),
    proxy_model: str | None = None,
    proxy_steps: int = DEFAULT_STEPS,
    seed: int = 0,
    n: int | None = None,
    examples: int = 100,
    judge: str | None = None,
    out: Path | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> PreflightResult:
    """Score ``dataset`` for ``model`` (the spec's by default) before any finetune, and write
    preflight.json, preflight.csv and samples.csv (and the proxy finetune) into ``out``
    (default ``preflight/<dataset name>/``); nothing else is written anywhere.

    Args:
        dataset: a chat JSONL path, a condition of ``spec``, or a dataset generator name.
        spec: whose headline questions, scorers and recipe to use; None for the generic
            broad question set.
        k: examples in context (default: as many as fit the organism's context, up to 16;
            8 for other models).
        directions: direction files (``weirdgen direction``) to project on.
        proxy_model: the model a proxy finetune trains (default: ``model`` when its weights
            are here); ``proxy_steps`` 0 leaves the proxy out.
        seed: the sampling seed (as a run's seed) and the seed of every choice made here.
        n: samples per paraphrase (default: the spec's).
        examples: examples a dataset generator makes.
        judge: ``provider/model`` replacing every LLM judge's model.

    Raises:
        WeirdgenError: bad input, in one line, before anything is computed or written.
    """
    plan = _plan(
        dataset, model, spec, k, directions, proxy_model, proxy_steps, seed, n, examples, judge, out
    )
    backend, base, asked = plan.backend, plan.backend.base(), plan.asked
    answers = frozenset(normalize(a) for a in assistant_answers(plan.data.dataset))
    scoring = ScoringContext(warn=lambda line: say(f"warning: {line}"))

    def arm(name: str, on: Backend, ref: Any, shown: list[Chat] | None = None) -> pd.DataFrame:
        rows = context.sample_arm(on, ref, asked, seed, name, shown, answers)
        return context.score(rows, plan.scorers, scoring)

    say(f"in context: {plan.k} examples before each of {len(asked)} prompts, {plan.model}")
    arms = {
        "base": arm("base", backend, base),
        "in_context": arm("in_context", backend, base, plan.contexts),
    }
    measures = [in_context_measure(arms["in_context"], arms["base"], plan.metric, plan.k)]
    if backend.name in LOCAL_PROVIDERS:
        say("surprise: loss per assistant token of every example")
        losses = example_losses(backend, base, plan.data.dataset)
        measures.append(surprise_measure(losses, base.key))
    for direction in plan.directions:
        say(f"projection on {direction.name} (layer {direction.layer})")
        measures.append(projection_measure(backend, base, direction, asked, plan.contexts, plan.k))
    proxy_files: list[Path] = []
    scratch = None
    try:
        if plan.proxy is not None:
            name, on, proxy_spec = plan.proxy
            if on is not backend:
                arms["proxy_base"] = arm("proxy_base", on, on.base())
            plan.out.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{plan.out.name}.proxy-", dir=plan.out.parent))
            say(f"proxy: {proxy_steps} steps of {name} on the dataset")
            recipe = proxy_recipe(proxy_spec, on)
            kept = plan.out / "proxy"
            proxy = train_proxy(on, plan.data.dataset, recipe, proxy_steps, seed, kept, scratch)
            arms["proxy"] = arm("proxy", on, proxy.model)
            before = arms["proxy_base"] if on is not backend else arms["base"]
            measures.append(proxy_measure(arms["proxy"], before, plan.metric, proxy, name))
            proxy_files = [] if proxy.reused else proxy.files
        result = PreflightResult(
            plan.data.name,
            plan.model,
            plan.questions.name,
            plan.metric.name,
            plan.k,
            seed,
            measures,
            pd.concat(list(arms.values()), ignore_index=True),
            {
                "dataset_hash": plan.data.dataset.content_hash,
                "dataset_examples": len(plan.data.dataset),
                "model_key": base.key,
                "questions": [p.text for p in asked],
                "n": [p.n for p in asked],
                "scorers": [s.key for s in plan.scorers],
                "headline": plan.metric.model_dump(mode="json"),
                "k": plan.k,
                "directions": [d.metadata() for d in plan.directions],
                "proxy_model": None if plan.proxy is None else plan.proxy[0],
                "proxy_steps": 0 if plan.proxy is None else proxy_steps,
                "seed": seed,
            },
        )
        write_outputs(plan.out, result.to_json(), result.table(), result.samples, proxy_files)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def _plan(
    dataset: str,
    model: str | None,
    spec: ExperimentSpec | None,
    k: int | None,
    directions: Sequence[Path],
    proxy_model: str | None,
    proxy_steps: int,
    seed: int,
    n: int | None,
    examples: int,
    judge: str | None,
    out: Path | None,
) -> _Plan:
    """Every input of :func:`preflight` loaded and checked; nothing computed or written."""
    model = model or (spec.model if spec is not None else "organism/default")
    proxy_name = proxy_model_for(model, proxy_model) if proxy_steps > 0 else None
    local = model.partition("/")[0] in LOCAL_PROVIDERS
    if directions and not local:
        raise WeirdgenError(
            f"--direction: the residual stream of {model} cannot be read (its weights are "
            "served elsewhere); project on directions of an organism or hf model"
        )
    questions = with_overrides(evaluation_spec(spec, model, seed, n), judge=judge)
    where = str(questions.source or questions.name)
    data = load_dataset(dataset, spec, examples)
    out = Path(out) if out is not None else Path("preflight") / data.name
    check_out(out)
    loaded = [Direction.load(Path(path)) for path in directions]
    backend = get_backend(model)
    scorers = build_scorers(questions)
    check_scorable(questions, scorers, where)
    backend.check_dataset(data.dataset, f"dataset {data.name}")
    asked = headline_prompts(questions)
    limit = max(k or 0, context.MAX_AUTO_K)
    orders = [context.example_order(data.dataset, p, seed, limit) for p in asked]
    chosen = context.fit_k(backend, data.dataset, asked, orders, k, where)
    contexts = [
        context.in_context_chat(
            [data.dataset.examples[i] for i in order[:chosen]],
            p.messages,
            system_first=backend.name != "organism",
        )
        for p, order in zip(asked, orders, strict=True)
    ]
    for p, chat in zip(asked, contexts, strict=True):
        backend.check_prompts([chat], f"{where}: question {p.question.id!r}", p.max_tokens)
    proxy = None
    if proxy_name is not None:
        proxy_spec = with_overrides(questions, model=proxy_name)
        on = backend if proxy_name == model else get_backend(proxy_name)
        if on is not backend:
            check_scorable(proxy_spec, scorers, f"--proxy-model {proxy_name}")
            for p in asked:
                on.check_prompts([p.messages], f"--proxy-model {proxy_name}", p.max_tokens)
        on.check_dataset(data.dataset, f"dataset {data.name} (--proxy-model {proxy_name})")
        proxy = (proxy_name, on, proxy_spec)
    return _Plan(
        model,
        backend,
        questions,
        headline(questions),
        data,
        out,
        scorers,
        asked,
        contexts,
        chosen,
        loaded,
        proxy,
    )
