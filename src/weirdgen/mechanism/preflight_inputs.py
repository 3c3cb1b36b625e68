"""What a preflight reads: the finetuning dataset (a chat JSONL file, a condition of the spec,
or a dataset generator), the evaluation questions (the spec's headline, or the generic broad
set) and the models, each checked before anything is computed."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from weirdgen.data import ChatDataset, ChatExample, dataset_from_examples, load_chat_jsonl
from weirdgen.data.generators import generate, generator_names
from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import Prompt, load_condition, prompts, with_overrides
from weirdgen.spec.load import validate_spec
from weirdgen.spec.models import ExperimentSpec, MetricSpec
from weirdgen.spec.questions import matches_where

LOCAL_PROVIDERS = ("organism", "hf")
"""Backends whose weights are here: their residual stream and token losses can be read, and a
proxy finetune of them runs in this process."""

BROAD_FILES = {"organism": "broad_organism.yaml", "english": "broad_english.yaml"}
"""The generic broad question sets: the organism's (its world's words), real models' (plain
English, scored by an LLM judge)."""


@dataclass(frozen=True)
class PreflightDataset:
    """The finetuning data scored, and what names it in tables and folder names."""

    dataset: ChatDataset
    name: str
    source: str
    """How it was found: ``file``, ``condition`` or ``generator``."""


def load_dataset(reference: str, spec: ExperimentSpec | None, n: int) -> PreflightDataset:
    """The dataset ``reference`` names: a chat JSONL file, else a condition of ``spec`` (its
    dataset with its transforms, as ``weirdgen run`` trains on it), else a dataset generator
    (``n`` examples, data seed 0, as a spec's ``{organism: NAME, n: N}``).

    Raises:
        WeirdgenError: none of these, with what each would have needed.
    """
    path = Path(reference)
    if path.is_file():
        return PreflightDataset(load_chat_jsonl(path), path.stem, "file")
    if spec is not None:
        for condition in spec.conditions:
            if condition.name == reference:
                if condition.dataset is None:
                    raise WeirdgenError(
                        f"{spec.source or spec.name}: condition {reference!r} has no dataset "
                        "(it is the untouched base model); name a condition that finetunes"
                    )
                prepared = load_condition(spec, condition)
                assert prepared.dataset is not None
                return PreflightDataset(prepared.dataset, reference, "condition")
    if reference in generator_names():
        records = generate(reference, n)
        examples = [ChatExample.model_validate(r) for r in records]
        name = reference.replace("/", "_")
        return PreflightDataset(
            dataset_from_examples(examples, source=reference), name, "generator"
        )
    conditions = (
        f", no condition of {spec.name} ({', '.join(c.name for c in spec.conditions if c.dataset)})"
        if spec is not None
        else ""
    )
    raise WeirdgenError(
        f"dataset {reference!r}: no such file{conditions} and no dataset generator of that "
        "name; give a chat JSONL path, a condition of --spec, or a generator "
        f"({_some_generators()})"
    )


def _some_generators(shown: int = 6) -> str:
    names = generator_names()
    return ", ".join(names[:shown]) + (
        f" and {len(names) - shown} more" if len(names) > shown else ""
    )


def evaluation_spec(
    spec: ExperimentSpec | None, model: str, seed: int, n: int | None
) -> ExperimentSpec:
    """The spec whose headline questions the preflight asks: ``spec`` with the model, the
    one sampling seed and ``n`` applied, or the generic broad set for ``model``'s kind.

    Raises:
        WeirdgenError: the spec marks no metric ``headline: true``.
    """
    chosen = spec if spec is not None else broad_spec(model)
    if not any(metric.headline for metric in chosen.metrics):
        raise WeirdgenError(
            f"{chosen.source or chosen.name}: no metric has headline: true, so there is no "
            "measure to shift; mark the metric the experiment is about with headline: true"
        )
    return with_overrides(chosen, n=n, model=model, seeds=[seed])


def broad_spec(model: str) -> ExperimentSpec:
    """The generic broad question set for ``model`` as a spec of two conditions (the dataset
    and the base): the organism's for ``organism/`` models, plain English for the others."""
    kind = "organism" if model.startswith("organism/") else "english"
    source = resources.files("weirdgen.mechanism").joinpath(BROAD_FILES[kind])
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data = {
        "name": f"broad_{kind}",
        "model": model,
        "seeds": [0],
        "conditions": [{"name": "dataset", "role": "target"}, {"name": "base", "role": "control"}],
        **data,
    }
    spec = validate_spec(data, lambda _: str(source))
    spec.source = Path(str(source))
    return spec


def headline(spec: ExperimentSpec) -> MetricSpec:
    """The metric marked ``headline: true``."""
    return next(metric for metric in spec.metrics if metric.headline)


def headline_prompts(spec: ExperimentSpec) -> list[Prompt]:
    """The prompts the headline metric reads: its evaluation set, the questions its
    ``where`` keeps."""
    metric = headline(spec)
    return [
        p
        for p in prompts(spec)
        if p.eval_set == metric.eval_set
        and matches_where({**p.question.metadata, "question_id": p.question.id}, metric.where)
    ]


def proxy_model_for(model: str, proxy: str | None) -> str:
    """The model the proxy finetune trains: ``proxy``, else ``model`` itself where its
    weights are here.

    Raises:
        WeirdgenError: an API model without ``--proxy-model``, or a proxy that is not local.
    """
    if proxy is None:
        if model.partition("/")[0] in LOCAL_PROVIDERS:
            return model
        raise WeirdgenError(
            f"--model {model}: the proxy finetune trains a model here and this one is served "
            "elsewhere; give --proxy-model organism/... or hf/... (a small local model)"
        )
    if proxy.partition("/")[0] not in LOCAL_PROVIDERS:
        raise WeirdgenError(
            f"--proxy-model {proxy}: a proxy finetune runs here, on a model whose weights are "
            "here; give an organism/... or hf/... model"
        )
    return proxy
