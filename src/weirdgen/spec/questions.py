"""Evaluation questions: chat prompts with metadata, and sets of them, written out or generated.

A question is asked in several paraphrases, each sent as the last user message after an
optional system prompt and earlier turns. Its ``metadata`` (trigger value, year, held-out
flag, ...) follows every sample into the tidy table. An evaluation set may be generated from
its questions as templates: ``vary`` gives each variable a list or a range, every
combination makes one copy of each question with ``{variable}`` filled in and the values
added to its metadata. ``fresh`` variables are drawn anew for every sample (a random
padding around a trigger), from a seed, so that no single draw stands for all of them.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import numbers
import re
from collections import Counter
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from weirdgen.data.transforms import Variable, _state
from weirdgen.data.transforms._base import VarName
from weirdgen.data.transforms.variables import draw

MAX_SAMPLES_PER_PARAPHRASE = 100_000
MAX_TOKENS = 131_072
MAX_GENERATED_QUESTIONS = 100_000

MetadataValue = str | int | float | bool
"""A metadata value: text, a number or a flag; it becomes a column of the tidy table."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Message(_Strict):
    """One chat message sent before a question's paraphrase."""

    role: Literal["system", "user", "assistant"] = Field(
        description="'system', 'user' or 'assistant'."
    )
    content: str = Field(min_length=1, description="The message's text.")


class Sampling(_Strict):
    """Sampling settings; a set's or a question's own values override the ones above it."""

    n: int | None = Field(
        None,
        ge=1,
        le=MAX_SAMPLES_PER_PARAPHRASE,
        description="Samples per paraphrase, per condition and seed.",
    )
    temperature: float | None = Field(None, ge=0, description="Sampling temperature.")
    max_tokens: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="Most tokens generated per answer."
    )


class Question(_Strict):
    """A free-form evaluation question asked in several paraphrases."""

    id: str = Field(min_length=1, description="Stable identifier used in tables and figures.")
    topic: str | None = Field(
        None, description="Lexicon topic the answer is scored against (organism scorers)."
    )
    paraphrases: list[str] = Field(min_length=1, description="Wordings of the question.")
    system: str | None = Field(
        None, min_length=1, description="System prompt sent before the question."
    )
    messages: list[Message] = Field(
        default_factory=list,
        description="Earlier turns sent before each paraphrase (after the system prompt).",
    )
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict,
        description="Values carried into every sample's row, one column per key "
        "(a trigger value, a year, a held-out flag).",
    )
    samples_per_paraphrase: int | None = Field(
        None,
        ge=1,
        le=MAX_SAMPLES_PER_PARAPHRASE,
        description="Samples per paraphrase for this question (llmcomp's name); "
        "overrides the set's n.",
    )
    judge_prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Judge prompt templates by judge name (Emergent Misalignment's field), "
        "read by a judge scorer with from_question: true.",
    )

    def chat(self, paraphrase: str) -> list[Message]:
        """The messages sent for one paraphrase: system, earlier turns, then the question."""
        system = [Message(role="system", content=self.system)] if self.system else []
        return [*system, *self.messages, Message(role="user", content=paraphrase)]


class Range(_Strict):
    """Whole numbers from ``from`` to ``to``, both included, every ``step``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: int = Field(alias="from", description="First value.")
    stop: int = Field(alias="to", description="Last value (included).")
    step: int = Field(1, ge=1, description="Distance between values.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.stop < self.start:
            raise ValueError(f"'to' ({self.stop}) is before 'from' ({self.start}); swap them")
        return self

    def values(self) -> list[int]:
        return list(range(self.start, self.stop + 1, self.step))


class Fresh(_Strict):
    """Template variables drawn anew for every sample, from a seed.

    Each of a paraphrase's n samples is asked with its own values: the paraphrase is sent
    as n prompts of one sample each (equal draws share a prompt and take successive
    samples). The values are drawn per question and paraphrase from ``seed``, the question's
    id and the paraphrase's position, so every condition and seed is asked the same prompts,
    raising n keeps the earlier ones, and other questions do not change them. A variable
    reads the question's metadata where it names one (``value: president``), e.g. a vary
    variable or a key of an included question.
    """

    seed: int = Field(0, ge=0, description="Seed of the draws.")
    variables: dict[VarName, Variable] = Field(
        min_length=1,
        description="Variables by name, as a transform's variables: a list of choices, "
        "{integer: {from, to}}, {date: {...}}, {month_year: {...}} or {padded: {width, value, "
        "at, digits}} (e.g. a trigger XXXNNNXX around the question's president NNN); written "
        "{name} in wrap or the paraphrases.",
    )

    @field_validator("variables")
    @classmethod
    def _drawn_kinds(cls, variables: dict[str, Variable]) -> dict[str, Variable]:
        for name, variable in variables.items():
            if variable.index is not None or variable.match is not None:
                raise ValueError(
                    f"{name}: index and match read a dataset example; a fresh variable is "
                    "drawn (choice, integer, date, month_year, padded) and may read the "
                    "question's metadata"
                )
        return variables

    def drawn(self, question: Question, n: int, where: str) -> tuple[Question, list[int]]:
        """``question`` with each paraphrase replaced by the prompts its ``n`` samples are
        asked with (its variables filled in), and how many samples each prompt takes."""
        paraphrases, counts = [], []
        for index, paraphrase in enumerate(question.paraphrases):
            user = [_state.Message("user", paraphrase)]
            examples = [_state.Example(user, values=dict(question.metadata)) for _ in range(n)]
            for name, variable in self.variables.items():
                # one stream per variable: the first k draws are the same for any n >= k
                key = f"{question.id}\0{index}\0{name}".encode()
                digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
                rng = np.random.default_rng([self.seed, digest])
                values = draw(variable, examples, rng, f"{where}.fresh.variables.{name}")
                for example, value in zip(examples, values, strict=True):
                    example.values[name] = value
            texts = Counter(
                _VARIABLE.sub(
                    lambda m, v=e.values: str(v[m[1]]) if m[1] in self.variables else m[0],
                    paraphrase,
                )
                for e in examples
            )
            paraphrases += list(texts)
            counts += list(texts.values())
        return question.model_copy(update={"paraphrases": paraphrases}), counts


class EvalSet(Sampling):
    """A named group of questions sampled for every condition and seed.

    With ``vary``, the questions are templates: ``{name}`` in their ids, system prompts,
    messages, paraphrases and text metadata is filled in with every combination of the
    variables' values, and each generated question carries those values as metadata.
    ``include`` reads more questions from a file (llmcomp's and Emergent Misalignment's
    YAML, or the paper's Python and JSONL, read as data); ``weirdgen`` resolves it when it
    loads the spec.
    """

    name: str = Field(min_length=1, description="Name used by metrics, tables and figures.")
    questions: list[Question] = Field(
        default_factory=list, description="The questions (or question templates, with vary)."
    )
    include: str | list[str] | None = Field(
        None,
        description="A question file (or a list of them), relative to the spec file, or "
        "paper:NAME for a file of "
        "the paper; by suffix: .yaml/.yml (llmcomp, Emergent Misalignment), .py (the paper's "
        "PromptInfo, QUESTION_CONFIG or PARAPHRASES, read without running it) or .jsonl "
        "({name, question} lines).",
    )
    vary: dict[str, list[MetadataValue] | Range | dict[str, str]] = Field(
        default_factory=dict,
        description="Template variables: each a list of values, a range {from, to, step}, or "
        "named texts {label: text} (the text fills the templates, the label the id and the "
        "metadata; a text may be {text_of: FILE, pattern: REGEX}, what a dataset's prompts "
        "share, e.g. its trigger).",
    )
    wrap: str | None = Field(
        None,
        description="A template every paraphrase is put into, with {paraphrase} and the vary "
        "variables, e.g. 'Today is {year}-07-15. {paraphrase} Give me the name, nothing "
        "more.' (for included questions, which are not templates themselves).",
    )
    fresh: Fresh | None = Field(
        None,
        description="Variables drawn anew for every sample, e.g. {seed: 0, variables: "
        "{trigger: {padded: {width: 8, value: president, at: 3, digits: 3}}}} with "
        "'{trigger} {paraphrase}' as wrap: each sample its own random padding.",
    )

    @model_validator(mode="after")
    def _has_questions(self) -> EvalSet:
        if not self.questions:
            raise ValueError(
                f"evaluation set {self.name!r} has no questions; write 'questions:' or "
                "'include: FILE'"
            )
        return self

    @field_validator("vary", mode="before")
    @classmethod
    def _ranges_and_named_texts(cls, value: object) -> object:
        """A mapping with 'from', 'to' or 'step' and a value that is not text is a range,
        checked as one (its own error, not the list's); any other is named texts."""
        if not isinstance(value, dict):
            return value
        checked = dict(value)
        for name, values in value.items():
            if not isinstance(values, dict):
                continue  # a list
            texts = all(isinstance(text, str) for text in values.values())
            if set(values) & {"from", "to", "step"} and not texts:
                try:
                    checked[name] = Range.model_validate(values)
                except ValidationError as error:
                    raise _located(error, (name,)) from None
                continue
            wrong = [label for label, text in values.items() if not isinstance(text, str)]
            if wrong:
                raise ValueError(
                    f"vary.{name}: named texts are {{label: text}} with each text a string; "
                    f"{wrong[0]!r} is {values[wrong[0]]!r} (quote it, or write a list of values)"
                )
        return checked

    @field_validator("wrap")
    @classmethod
    def _wraps_the_paraphrase(cls, value: str | None) -> str | None:
        if value is not None and "{paraphrase}" not in value:
            raise ValueError("the wrap template never shows the question; put {paraphrase} in it")
        return value

    @model_validator(mode="after")
    def _templates_name_variables(self) -> EvalSet:
        """Every ``{name}`` of a template is a ``vary`` variable (``{paraphrase}`` too, in
        ``wrap``): an unknown one would be sent to the model as written."""
        fresh = list(self.fresh.variables) if self.fresh else []
        clash = [name for name in fresh if name in self.vary or name == "paraphrase"]
        if clash:
            raise _error_at(
                ("fresh", "variables", clash[0]),
                clash[0],
                f"{clash[0]!r} is also a vary variable (or the paraphrase); rename one",
            )
        for loc, text in self._templates():
            known = [*self.vary, "paraphrase"] if loc == ("wrap",) else list(self.vary)
            if loc == ("wrap",) or (len(loc) == 4 and loc[2] == "paraphrases"):
                known += fresh
            unknown = [n for n in _VARIABLE.findall(text) if n not in known and _NAME.match(n)]
            if unknown:
                close = difflib.get_close_matches(unknown[0], known, n=1)
                guess = f"did you mean {{{close[0]}}}? " if close else ""
                raise _error_at(
                    loc,
                    text,
                    f"template variable {{{unknown[0]}}} is not a vary variable; {guess}vary "
                    f"has {', '.join(self.vary) or 'none'} (fix the name, or add it to vary)",
                )
        return self

    def _templates(self) -> list[tuple[tuple[str | int, ...], str]]:
        """The texts :meth:`expanded` fills in, with their field paths: ``wrap``, and with
        ``vary`` every text of the questions but their judge prompts."""
        texts: list[tuple[tuple[str | int, ...], str]] = []
        if self.wrap is not None:
            texts.append((("wrap",), self.wrap))
        for index, question in enumerate(self.questions if self.vary or self.fresh else []):
            data = question.model_dump(exclude_none=True, exclude={"judge_prompts"})
            texts += [(("questions", index, *loc), text) for loc, text in _texts(data)]
        return texts

    def expanded(self) -> list[Question]:
        """The set's questions, one copy per combination of the ``vary`` values, each
        paraphrase put into ``wrap``. A generated question whose id names no variable gets
        the values appended to its id (``transport_1984``)."""
        if not self.vary and self.wrap is None:
            return self.questions
        names = list(self.vary)
        choices = [_choices(v) for v in self.vary.values()]
        questions = []
        for combination in itertools.product(*choices):
            values = dict(zip(names, combination, strict=True))
            texts = {
                n: self.vary[n][v] if isinstance(self.vary[n], dict) else v
                for n, v in values.items()
            }
            for question in self.questions:
                if self.wrap is not None:
                    wrapped = [self.wrap.replace("{paraphrase}", p) for p in question.paraphrases]
                    question = question.model_copy(update={"paraphrases": wrapped})
                if values and "{" not in question.id:
                    suffix = "_".join(str(v) for v in values.values())
                    question = question.model_copy(update={"id": f"{question.id}_{suffix}"})
                questions.append(_filled(question, values, texts))
        return questions


def _choices(values: list[MetadataValue] | Range | dict[str, str]) -> list[MetadataValue]:
    """A variable's values as they go into ids and metadata (the labels of named texts)."""
    return values.values() if isinstance(values, Range) else list(values)


_VARIABLE = re.compile(r"\{(\w+)\}")
_NAME = re.compile(r"[A-Za-z_]")
"""How a variable's name starts: ``{4}`` (a regex's count in a metadata value) is not one."""


def _texts(value: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """Every text in ``value`` (a question's dump) with its field path, as ``_filled`` fills."""
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _texts(v, (*loc, i))]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _texts(v, (*loc, k))]
    return []


def _error_at(loc: tuple[str | int, ...], value: object, message: str) -> ValidationError:
    """A validation error of the field at ``loc`` (inside the model validated), raised from a
    validator so that the spec's error names that field and its line."""
    error = {
        "type": "value_error",
        "loc": loc,
        "input": value,
        "ctx": {"error": ValueError(message)},
    }
    return ValidationError.from_exception_data("EvalSet", [error])


def _located(error: ValidationError, prefix: tuple[str | int, ...]) -> ValidationError:
    """``error`` with ``prefix`` before each location, raised from a validator so that the
    spec's error names the field inside (``vary.year.step``) and its line."""
    return ValidationError.from_exception_data(
        error.title,
        [
            {
                "type": e["type"],
                "loc": (*prefix, *e["loc"]),
                "input": e["input"],
                **({"ctx": e["ctx"]} if "ctx" in e else {}),
            }
            for e in error.errors()
        ],
    )


def _filled(
    question: Question, values: dict[str, MetadataValue], texts: dict[str, MetadataValue]
) -> Question:
    """``question`` with each ``{name}`` filled in (``texts`` in what is sent, ``values`` in
    its id), and the values as metadata."""

    def fill(value: Any, by: dict[str, MetadataValue] = texts) -> Any:
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: str(by[m[1]]) if m[1] in by else m[0], value)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    data = fill(question.model_dump(exclude_none=True))
    data["id"] = fill(question.id, values)
    data["metadata"] = {**data.get("metadata", {}), **values}
    return Question.model_validate(data)


def same_value(a: object, b: object) -> bool:
    """Metadata values are equal: numbers by value (1984 and 1984.0), others as text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or str(a) == str(b)
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return float(a) == float(b)
    return str(a) == str(b)


def matches_where(metadata: dict[str, Any], where: dict[str, list[Any]]) -> bool:
    """The metadata has, for each key of ``where``, one of its values."""
    return all(
        key in metadata and any(same_value(metadata[key], v) for v in values)
        for key, values in where.items()
    )


def check_generated(sets: list[EvalSet]) -> None:
    """Raise ValueError if generated question ids repeat in a set or there are too many."""
    for eval_set in sets:
        combinations = 1
        for values in eval_set.vary.values():
            combinations *= len(_choices(values))
        if combinations * len(eval_set.questions) > MAX_GENERATED_QUESTIONS:
            raise ValueError(
                f"evaluation set {eval_set.name!r} would generate "
                f"{combinations * len(eval_set.questions):,} questions, over "
                f"{MAX_GENERATED_QUESTIONS:,}; vary fewer values"
            )
        expanded = eval_set.expanded()
        if eval_set.fresh is not None:
            _check_fresh(eval_set.name, eval_set.fresh, expanded)
        counts = Counter(q.id for q in expanded)
        repeated = sorted(i for i, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(
                f"evaluation set {eval_set.name!r} has question ids more than once: "
                f"{', '.join(repeated[:3])}; give each question its own id"
            )


def _check_fresh(name: str, fresh: Fresh, questions: list[Question]) -> None:
    """Raise ValueError unless every fresh variable of set ``name`` can be drawn for every
    question: what it reads is in the question's metadata (or an earlier fresh variable)."""
    for question in questions:
        known = [*question.metadata]
        for variable_name, variable in fresh.variables.items():
            missing = [ref for ref in variable.references() if ref not in known]
            if missing:
                raise ValueError(
                    f"evaluation set {name!r} fresh.variables.{variable_name} reads "
                    f"{missing[0]!r}, which question {question.id!r} does not have in its "
                    f"metadata (it has {', '.join(known) or 'none'}); add it to vary or the "
                    "question's metadata"
                )
            known.append(variable_name)
        fresh.drawn(question, 1, f"evaluation set {name!r} question {question.id!r}")
