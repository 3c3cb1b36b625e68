"""What a run needs, resolved and checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from weirdgen.backends import Backend
from weirdgen.data import (
    ChatDataset,
    ChatExample,
    assistant_answers,
    dataset_from_examples,
    load_chat_jsonl,
)
from weirdgen.data.transforms import apply_transforms
from weirdgen.errors import WeirdgenError
from weirdgen.organism.datasets import generate_dataset
from weirdgen.organism.world import normalize
from weirdgen.score import Scorer
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.models import Condition, DatasetRef, ExperimentSpec
from weirdgen.spec.questions import Question

DEFAULT_ORGANISM_EXAMPLES = 100
MAX_SAMPLES = 5_000_000
"""Most samples one run may plan (conditions x seeds x paraphrases x n): its plan is held in
memory, so a larger run is split into several (by seeds or evaluation sets)."""


@dataclass(frozen=True)
class PreparedCondition:
    """A condition with its finetuning data loaded and checked (None for the base model)."""

    condition: Condition
    dataset: ChatDataset | None
    values: tuple[dict[str, str | int], ...] = ()
    """Each example's transform variables (trigger values), where it has transforms."""

    @property
    def train_answers(self) -> frozenset[str] | None:
        if self.dataset is None:
            return None
        return frozenset(normalize(answer) for answer in assistant_answers(self.dataset))


@dataclass(frozen=True)
class Prompt:
    """One paraphrase of one question of one evaluation set."""

    eval_set: str
    question: Question
    paraphrase_index: int
    text: str


def sample_key(
    model_key: str, prompt: str, temperature: float, max_tokens: int, seed: int, index: int
) -> str:
    """Content key of one sample: the same model, prompt, settings, seed and index."""
    payload = json.dumps([model_key, prompt, temperature, max_tokens, seed, index])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def score_item_key(
    sample: str, answer: str, question: Question, train_answers: frozenset[str] | None
) -> str:
    """Content key of one scoring: everything a scorer reads (the sample, its answer, the
    question with its metadata, the condition's training answers), so an edited answer or a
    question moved to another topic is scored again."""
    payload = json.dumps(
        [
            sample,
            answer,
            question.model_dump(mode="json"),
            None if train_answers is None else sorted(train_answers),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def load_condition(spec: ExperimentSpec, condition: Condition) -> PreparedCondition:
    """Load (or generate) a condition's dataset and apply its transforms; errors name the file
    and line, or the spec field."""
    if condition.dataset is None:
        return PreparedCondition(condition, None)
    dataset = _load_dataset(spec, condition.dataset)
    if not condition.transforms:
        return PreparedCondition(condition, dataset)
    index = spec.conditions.index(condition)
    transformed = apply_transforms(
        dataset.examples,
        condition.transforms,
        condition.data_seed,
        load=lambda ref: _load_dataset(spec, ref).examples,
        where=f"{spec.source or spec.name}: conditions[{index}].transforms",
    )
    return PreparedCondition(condition, transformed.dataset(), transformed.values)


def _load_dataset(spec: ExperimentSpec, ref: DatasetRef) -> ChatDataset:
    """The dataset a reference names: a chat JSONL file, or an organism generator's."""
    if ref.path is not None:
        return load_chat_jsonl(resolve_spec_path(spec, ref.path))
    records = generate_dataset(ref.organism, ref.n or DEFAULT_ORGANISM_EXAMPLES)
    examples = [ChatExample.model_validate(r) for r in records]
    return dataset_from_examples(examples, source=ref.organism)


def prompts(spec: ExperimentSpec) -> list[Prompt]:
    return [
        Prompt(s.name, q, i, text)
        for s in spec.evaluation.sets
        for q in s.questions
        for i, text in enumerate(q.paraphrases)
    ]


def check(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    scorers: list[Scorer],
) -> None:
    """Every check that can fail on bad input, before the run folder is touched."""
    where = str(spec.source or spec.name)
    paraphrases = sum(len(q.paraphrases) for s in spec.evaluation.sets for q in s.questions)
    planned = len(conditions) * len(spec.seeds) * paraphrases * spec.evaluation.n
    if planned > MAX_SAMPLES:
        raise WeirdgenError(
            f"{where}: evaluation.n {spec.evaluation.n} x {paraphrases} paraphrases x "
            f"{len(spec.seeds)} seeds x {len(conditions)} conditions is {planned:,} samples, "
            f"over the {MAX_SAMPLES:,} one run can hold; lower n or split the run by seeds"
        )
    for i, prepared in enumerate(conditions):
        if prepared.dataset is not None:
            backend.check_dataset(prepared.dataset, f"{where}: conditions[{i}].dataset")
    for s_index, eval_set in enumerate(spec.evaluation.sets):
        for q_index, question in enumerate(eval_set.questions):
            field = f"{where}: evaluation.sets[{s_index}].questions[{q_index}]"
            backend.check_prompts(question.paraphrases, field, spec.evaluation.max_tokens)
            for scorer in scorers:
                check_question = getattr(scorer, "check_question", None)
                if check_question is not None:
                    check_question(question, field)
