"""What a run needs, resolved and checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from weirdgen.backends import Backend
from weirdgen.backends.protocol import Chat, as_chat, chat_text
from weirdgen.data import (
    ChatDataset,
    ChatExample,
    assistant_answers,
    dataset_from_examples,
    load_chat_jsonl,
)
from weirdgen.data.generators import generate
from weirdgen.data.text import normalize
from weirdgen.data.transforms import apply_transforms
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.interventions import resolve_condition
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.run.unseen import check_unseen_dates
from weirdgen.score import ScoreItem, Scorer, build_scorer
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.load import validate_spec
from weirdgen.spec.models import Condition, DatasetRef, ExperimentSpec, ScorerSpec
from weirdgen.spec.questions import Question
from weirdgen.spec.recipes import wants_checkpoints

RESERVED_COLUMNS = (*SAMPLE_COLUMNS, "step", "final", "messages")
"""Column names question metadata may not take: the tidy table's own (and the scorers')."""

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
    """One paraphrase of one question of one evaluation set, as the chat sent, with the
    sampling settings that apply to it (the question's, else its set's, else the spec's)."""

    eval_set: str
    question: Question
    paraphrase_index: int
    messages: Chat
    n: int
    temperature: float
    max_tokens: int

    @property
    def text(self) -> str:
        """The chat as one string (the paraphrase itself for a lone user message)."""
        return chat_text(self.messages)


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
    return ScoreKeys().key(sample, answer, question, train_answers)


class ScoreKeys:
    """:func:`score_item_key` for many rows: each question's and each condition's training
    answers' JSON is written once, not once per row (the keys are byte for byte the same)."""

    def __init__(self) -> None:
        self._parts: dict[int, tuple[object, str]] = {}

    def _json(self, value: object, dump) -> str:
        found = self._parts.get(id(value))
        if found is None or found[0] is not value:
            found = (value, json.dumps(dump(value), sort_keys=True))
            self._parts[id(value)] = found
        return found[1]

    def key(
        self, sample: str, answer: str, question: Question, train_answers: frozenset[str] | None
    ) -> str:
        q = self._json(question, lambda v: v.model_dump(mode="json"))
        t = self._json(train_answers, lambda v: None if v is None else sorted(v))
        payload = f"[{json.dumps(sample)}, {json.dumps(answer)}, {q}, {t}]"
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def with_overrides(
    spec: ExperimentSpec,
    n: int | None = None,
    model: str | None = None,
    seeds: int | list[int] | None = None,
    judge: str | None = None,
) -> ExperimentSpec:
    """The spec with a run's overrides applied: samples per paraphrase (for every prompt,
    over a set's or a question's own count), the model, the seeds
    (a count N means 0..N-1), the model of every LLM judge; the source file is kept.

    ``n`` and ``seeds`` are checked as the spec's own fields are (``--n 200000`` is refused
    as ``n: 200000`` is), with one line naming the flag, the spec field and the fix.
    """
    if judge is not None:
        spec = spec.model_copy(update={"scorers": [_judged_by(s, judge) for s in spec.scorers]})
    if model is not None:
        spec = spec.model_copy(update={"model": model})
    if n is None and seeds is None:
        return spec
    data = spec.model_dump()
    if n is not None:  # every prompt's n: the sets' and questions' own counts give way
        data["evaluation"]["n"] = n
        for s in data["evaluation"]["sets"]:
            s["n"] = None
            for q in s["questions"]:
                q["samples_per_paraphrase"] = None
    if seeds is not None:
        data["seeds"] = seeds
    flags = {
        "evaluation": (n, f"--n {n}"),
        "seeds": (seeds, f"--seeds {_shown_seeds(seeds)}"),
        "model": (model, f"--model {model}"),
    }
    given = {field: flag for field, (value, flag) in flags.items() if value is not None}

    def where(loc: tuple) -> str:  # the flag whose field is at fault, else all of them
        return given.get(loc[0]) if loc and loc[0] in given else " ".join(given.values())

    overridden = validate_spec(data, where)
    overridden.source = spec.source
    return overridden


def _shown_seeds(seeds: int | list[int] | None) -> str:
    """Seeds as ``--seeds`` takes them: ``5``, ``0,3,7``; a long list shortened."""
    if not isinstance(seeds, list):
        return str(seeds)
    if len(seeds) <= 5:
        return ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")
    return f"{seeds[0]},{seeds[1]},...,{seeds[-1]} ({len(seeds)} seeds)"


def build_scorers(spec: ExperimentSpec, entries: list[ScorerSpec] | None = None) -> list[Scorer]:
    """The spec's scorers (or ``entries``), built, with each judge's backend made; an error
    (a prompt file not found, an unknown provider, a key not set) names the entry."""
    where = str(spec.source or spec.name)
    spec_dir = spec.source.parent if spec.source else None
    scorers = []
    for i, entry in enumerate(spec.scorers if entries is None else entries):
        try:
            scorer = build_scorer(entry, spec_dir)
            getattr(scorer, "backend", None)  # a judge's backend: fails here, not mid-run
        except WeirdgenError as error:
            field = getattr(error, "field", None)  # one field of the entry is at fault
            at = f"scorers[{i}].{field}" if field else f"scorers[{i}] ({entry.name})"
            raise WeirdgenError(f"{where}: {at}: {error}") from None
        scorers.append(scorer)
    return scorers


def _judged_by(scorer: ScorerSpec, judge: str) -> ScorerSpec:
    """A judge's entry with its model replaced by ``judge``; other scorers as they are."""
    from weirdgen.score.judge.args import JudgeArgs

    if not isinstance(scorer.args, JudgeArgs):
        return scorer
    if "/" not in judge:
        raise WeirdgenError(
            f"--judge {judge!r}: write the judge as provider/model, e.g. openai/{judge}"
        )
    return ScorerSpec.model_validate({**scorer.model_dump(), "model": judge})


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
    """The dataset a reference names: a chat JSONL file, a paper file (fetched and verified,
    or read from $WEIRDGEN_PAPER_DIR), or an organism generator's."""
    if ref.path is not None:
        return load_chat_jsonl(resolve_spec_path(spec, ref.path))
    if ref.paper is not None:
        from weirdgen.paper import paper_file

        return load_chat_jsonl(paper_file(ref.paper))
    records = generate(ref.organism, ref.n or DEFAULT_ORGANISM_EXAMPLES)
    examples = [ChatExample.model_validate(r) for r in records]
    return dataset_from_examples(examples, source=ref.organism)


def prompts(spec: ExperimentSpec) -> list[Prompt]:
    """Every prompt of the spec's evaluation sets (``vary`` templates expanded), in order;
    a set with ``fresh`` variables asks each paraphrase as n prompts, one per draw."""
    ev = spec.evaluation
    out = []
    for s in ev.sets:
        temperature = ev.temperature if s.temperature is None else s.temperature
        max_tokens = s.max_tokens or ev.max_tokens
        for q in s.expanded():
            n = q.samples_per_paraphrase or s.n or ev.n
            counts = [n] * len(q.paraphrases)
            if s.fresh is not None:  # each sample its own draw: one prompt per distinct draw
                q, counts = s.fresh.drawn(q, n, f"evaluation set {s.name!r}")
            for i, (paraphrase, count) in enumerate(zip(q.paraphrases, counts, strict=True)):
                chat = as_chat([m.model_dump() for m in q.chat(paraphrase)])
                out.append(Prompt(s.name, q, i, chat, count, temperature, max_tokens))
    return out


def check_scorable(spec: ExperimentSpec, scorers: list[Scorer], where: str) -> None:
    """Refuse, in one line naming them, scorers that can score no answer of the spec's
    model: a scorer's ``cannot_score(model, experiment)`` says why (the organism's lexicon
    on a real model), or None."""
    named: dict[str, list[str]] = {}  # the problem -> the scorers that have it
    for i, scorer in enumerate(scorers):
        cannot = getattr(scorer, "cannot_score", None)
        problem = cannot(spec.model, spec.name) if cannot is not None else None
        if problem:
            named.setdefault(problem, []).append(
                f"scorers[{i}] ({scorer.args.name}, {scorer.kind})"
            )
    if named:
        problems = (f"{' and '.join(which)}: {problem}" for problem, which in named.items())
        raise WeirdgenError(f"{where}: {'; '.join(problems)}")


def check(
    spec: ExperimentSpec,
    backend: Backend,
    conditions: list[PreparedCondition],
    scorers: list[Scorer],
    asked: list[Prompt],
) -> None:
    """Every check that can fail on bad input, before the run folder is touched; ``asked``
    is ``prompts(spec)``."""
    where = str(spec.source or spec.name)
    check_scorable(spec, scorers, where)
    per_model = sum(p.n for p in asked)
    planned = len(conditions) * len(spec.seeds) * per_model
    if planned > MAX_SAMPLES:
        raise WeirdgenError(
            f"{where}: {per_model:,} samples per model ({len(asked)} prompts, n each) x "
            f"{len(spec.seeds)} seeds x {len(conditions)} conditions is {planned:,} samples, "
            f"over the {MAX_SAMPLES:,} one run can hold; lower evaluation.n or split the run "
            "by seeds"
        )
    reserved = [*RESERVED_COLUMNS, *(c for s in spec.scorers for c in s.columns().values())]
    clashes = sorted({key for p in asked for key in p.question.metadata if key in reserved})
    if clashes:
        raise WeirdgenError(
            f"{where}: question metadata key {clashes[0]!r} is also a column of the samples "
            f"table; rename it (reserved: {', '.join(reserved)})"
        )
    recipe = getattr(spec.train, backend.recipe_section)
    if wants_checkpoints(recipe) and not backend.keeps_checkpoints:
        raise WeirdgenError(
            f"{where}: train.{backend.recipe_section}.save_steps: the {backend.name} backend "
            "keeps no checkpoints yet; remove save_steps (or run on the organism)"
        )
    for i, prepared in enumerate(conditions):
        if prepared.dataset is not None:
            backend.check_dataset(prepared.dataset, f"{where}: conditions[{i}].dataset")
        if prepared.condition.intervention is not None:  # a backend that edits, a file that fits
            resolve_condition(spec, spec.conditions.index(prepared.condition), backend)
    check_unseen_dates(spec, conditions, asked)
    by_question: dict[tuple[str, str], list[Prompt]] = {}
    for p in asked:
        by_question.setdefault((p.eval_set, p.question.id), []).append(p)
    sets = {s.name: (i, s) for i, s in enumerate(spec.evaluation.sets)}
    for (eval_set, question_id), group in by_question.items():
        index, written = sets[eval_set]
        if written.vary:  # a generated question: named by its id
            field = f"{where}: evaluation.sets[{index}] question {question_id!r}"
        else:
            q_index = [q.id for q in written.questions].index(question_id)
            field = f"{where}: evaluation.sets[{index}].questions[{q_index}]"
        backend.check_prompts([p.messages for p in group], field, group[0].max_tokens)
        for i, scorer in enumerate(scorers):
            if not scorer.args.scores(eval_set):
                continue
            check_question = getattr(scorer, "check_question", None)
            if check_question is not None:
                check_question(group[0].question, field)
            _check_judge_prompt(scorer, group[0], f"{where}: scorers[{i}]")


def _check_judge_prompt(scorer: Scorer, prompt: Prompt, where: str) -> None:
    """An LLM judge's prompt for ``prompt``'s question, rendered with an empty answer (none
    exists yet), through the judge backend's own prompt check, which loads what the model
    needs (an hf judge's tokenizer, the organism's vocabulary): a judge that cannot run is
    one line up front, not a failure after finetuning and sampling."""
    render = getattr(scorer, "messages", None)
    if render is None or getattr(scorer, "backend", None) is None:
        return  # not an LLM judge
    field = f"{where} ({scorer.args.name}, judge {scorer.args.model})"
    item = ScoreItem(prompt.question, "", None, prompt.messages, prompt.eval_set)
    try:
        scorer.backend.check_prompts([render(item)], field)
    except WeirdgenError as error:
        message = str(error)
        raise WeirdgenError(
            message if message.startswith(field) else f"{field}: {message}"
        ) from None
