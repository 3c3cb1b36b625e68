"""What a run needs, resolved and checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

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
from weirdgen.defences.apply import Dropped, distilled, filtered, held_out_split, prompts_for
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
    dropped: tuple[Dropped, ...] = ()
    """Examples a filtering defence dropped (they are not in ``dataset``)."""
    held_out: ChatDataset | None = None
    """Examples an early-stopping defence keeps out of training to read its rule on."""
    realign: ChatDataset | None = None
    """The benign data of a re-alignment defence's second stage."""
    narrow_answers: frozenset[str] | None = None
    """A defended condition's answers of the task it defends (its undefended condition's
    finetuning answers), which ``train_match`` reads in place of its own data's."""

    @property
    def train_answers(self) -> frozenset[str] | None:
        if self.dataset is None:
            return None
        if self.narrow_answers is not None:
            return self.narrow_answers
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


def load_condition(
    spec: ExperimentSpec,
    condition: Condition,
    backend: Backend | None = None,
    draw: bool = True,
) -> PreparedCondition:
    """Load (or generate) a condition's dataset and apply its transforms, then its defence's
    filter and held-out split; errors name the file and line, or the spec field. ``backend``
    draws the answers of self-distilled data (a dilution defence's); ``draw=False`` keeps
    the file's own answers there instead (for counting examples, as ``weirdgen plan`` does)."""
    if condition.dataset is None:
        return PreparedCondition(condition, None)
    where = f"{spec.source or spec.name}: {condition_field(spec, condition)}"
    backend = backend if draw else _KEEP_ANSWERS
    dataset = _load_dataset(spec, condition.dataset, backend, f"{where}.dataset")
    values: tuple[dict[str, str | int], ...] = ()
    if condition.transforms:
        transformed = apply_transforms(
            dataset.examples,
            condition.transforms,
            condition.data_seed,
            load=lambda ref: _load_dataset(spec, ref, backend, f"{where}.transforms").examples,
            where=f"{where}.transforms",
        )
        dataset, values = transformed.dataset(), transformed.values
    dropped: list[Dropped] = []
    if condition.filtering is not None:
        spec_dir = spec.source.parent if spec.source else None
        dataset, dropped = filtered(dataset, condition.filtering, spec_dir, f"{where}.filtering")
        if values:
            gone = {d.index for d in dropped}
            values = tuple(v for i, v in enumerate(values) if i not in gone)
    held_out = None
    if condition.early_stopping is not None and condition.early_stopping.at_least is not None:
        dataset, held_out = held_out_split(
            dataset, condition.early_stopping, condition.data_seed, f"{where}.early_stopping"
        )
        values = ()  # the split reorders nothing but drops examples: no longer line for line
    realign = None
    if condition.realignment is not None:
        ref = condition.realignment.dataset
        realign = _load_dataset(spec, ref, backend, f"{where}.realignment.dataset")
    narrow = None
    if condition.defence is not None:
        of = next(c for c in spec.conditions if c.name == condition.defence.of)
        narrow = load_condition(spec, of, backend, draw).train_answers
    return PreparedCondition(condition, dataset, values, tuple(dropped), held_out, realign, narrow)


_KEEP_ANSWERS: Any = object()
"""Stands for a backend where distilled data keep their file's answers (plans count only)."""


def condition_field(spec: ExperimentSpec, condition: Condition) -> str:
    """Where a condition is written in the spec: ``conditions[i]``, or for one the spec's
    defences made, ``defences[k] (<condition>.<defence>)``."""
    made = [d.name for d in spec.defences]
    if condition.defence is not None and condition.defence.name in made:
        return f"defences[{made.index(condition.defence.name)}] ({condition.name})"
    return f"conditions[{spec.conditions.index(condition)}]"


def _load_dataset(
    spec: ExperimentSpec, ref: DatasetRef, backend: Backend | None = None, where: str = ""
) -> ChatDataset:
    """The dataset a reference names: a chat JSONL file, a paper file (fetched and verified,
    or read from $WEIRDGEN_PAPER_DIR), or an organism generator's; with ``distill``, its
    prompts answered by ``backend``'s base model."""
    if ref.path is not None:
        dataset = load_chat_jsonl(resolve_spec_path(spec, ref.path))
    elif ref.paper is not None:
        from weirdgen.paper import paper_file

        dataset = load_chat_jsonl(paper_file(ref.paper))
    else:
        records = generate(ref.organism, ref.n or DEFAULT_ORGANISM_EXAMPLES)
        examples = [ChatExample.model_validate(r) for r in records]
        dataset = dataset_from_examples(examples, source=ref.organism)
    if ref.distill is not None and backend is not _KEEP_ANSWERS:
        dataset = distilled(dataset, backend, ref.distill, where or str(spec.source or spec.name))
    return dataset


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
    for prepared in conditions:
        field = f"{where}: {condition_field(spec, prepared.condition)}"
        if prepared.dataset is not None:
            backend.check_dataset(prepared.dataset, f"{field}.dataset")
        if prepared.condition.intervention is not None:  # a backend that edits, a file that fits
            resolve_condition(spec, spec.conditions.index(prepared.condition), backend)
        _check_defence(spec, backend, prepared, asked, field)
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


def _check_defence(
    spec: ExperimentSpec,
    backend: Backend,
    prepared: PreparedCondition,
    asked: list[Prompt],
    where: str,
) -> None:
    """A defence the backend can apply: checkpoints for early stopping, a second stage for
    re-alignment (its data checked like any), test-time prompts it can be asked."""
    condition = prepared.condition
    if condition.early_stopping is not None and not backend.keeps_checkpoints:
        raise WeirdgenError(
            f"{where}.early_stopping: the {backend.name} backend keeps no checkpoints to stop "
            "at; run this defence on the organism or hf"
        )
    if condition.realignment is not None:
        if not getattr(backend, "continues_training", False):
            raise WeirdgenError(
                f"{where}.realignment: the {backend.name} backend cannot train a finetune "
                "further; run this defence on the organism, hf or openai"
            )
        assert prepared.realign is not None
        backend.check_dataset(prepared.realign, f"{where}.realignment.dataset")
    if condition.test_time is not None:  # every distinct edited prompt, one call per length
        by_length: dict[int, dict[str, Chat]] = {}
        for prompt in prompts_for(asked, condition.test_time):
            by_length.setdefault(prompt.max_tokens, {})[prompt.text] = prompt.messages
        for max_tokens, chats in by_length.items():
            backend.check_prompts(list(chats.values()), f"{where}.test_time", max_tokens)


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
