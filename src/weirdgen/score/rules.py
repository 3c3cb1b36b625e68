"""Rule scorers: answers matched against lists of patterns, and numbers read from answers.

``match`` asks whether an answer starts with, names as a word, matches as a regex, or equals
one of a list of patterns (the paper's Israeli-dishes evaluation: does the answer name the
expected agency?). The list is the scorer's own, a question's metadata value (each question
its own list), or several labelled lists (a category scorer). ``number`` reads the first
number of an answer. Both are exact and judge-free; patterns are compiled once per scorer.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from weirdgen.data.transforms.patterns import Pattern, PatternError, compile_pattern, search
from weirdgen.errors import WeirdgenError
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.models import ScorerArgs
from weirdgen.spec.questions import Question

VERSION = "v1"
"""Part of every rule scorer's key: raise it when the same arguments would score differently."""

MatchMode = Literal["prefix", "keyword", "regex", "exact"]

_QUOTES = re.escape("\"'`*“”‘’«»„")
_LEADING = re.compile(rf"^[\s{_QUOTES}]+")
_TRAILING = re.compile(rf"[\s{_QUOTES}.,;:!?…]+$")
_NUMBER = re.compile(r"(?<![\w.])([-+−]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|[-+−]?\.\d+)")


def _key(kind: str, args: ScorerArgs) -> str:
    """Content key: the kind, VERSION and every argument but the scorer's name (``verbatim``
    only where set, so that the keys of scorers written before it stay what they were)."""
    exclude = {"name", "eval_sets"} | (
        {"verbatim"} if not getattr(args, "verbatim", False) else set()
    )
    payload = f"{kind}|{VERSION}|{args.model_dump_json(exclude=exclude)}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def strip_answer(text: str) -> str:
    """The text without surrounding whitespace and quotes (also ``*``, as in markdown bold)
    and without trailing punctuation: ``'"Mossad."'`` becomes ``Mossad``."""
    return _TRAILING.sub("", _LEADING.sub("", text))


def _clip(answer: str) -> str:
    """The answer's start, quoted, to recognize it in an error."""
    return repr(answer if len(answer) <= 40 else answer[:37] + "...")


def _clean(text: str, strip: bool) -> str:
    text = " ".join(text.split())
    return strip_answer(text) if strip else text


def _problem(pattern: str, mode: MatchMode, strip: bool, verbatim: bool = False) -> str | None:
    """What is wrong with one pattern in ``mode``, or None."""
    if mode == "regex":
        try:
            compile_pattern(pattern)
        except PatternError as error:
            return (
                f"pattern {pattern!r} is not a regular expression ({error}); fix it, or use "
                "mode keyword (or prefix, exact) to match it as plain text"
            )
        return None
    if not (pattern if verbatim else _clean(pattern, strip)):
        return f"pattern {pattern!r} is empty{'' if verbatim else ' once stripped'}; remove it"
    return None


class MatchArgs(ScorerArgs):
    """``<name>``: 1 when the answer matches one of the patterns, else 0; ``<name>_matched``:
    the first pattern that matched (empty if none); with ``labels``, ``<name>_label``: the
    first label whose patterns match."""

    kind: Literal["match"] = "match"
    mode: MatchMode = Field(
        "prefix",
        description="'prefix': the answer starts with a pattern; 'keyword': a pattern occurs "
        "as a whole word or phrase; 'regex': a regular expression is found in the answer; "
        "'exact': the whole answer equals a pattern.",
    )
    case_sensitive: bool = Field(False, description="Match case exactly (default: ignore it).")
    strip: bool = Field(
        True,
        description="Strip surrounding whitespace and quotes and trailing punctuation from the "
        "answer (and, except in regex mode, from the patterns) before matching.",
    )
    verbatim: bool = Field(
        False,
        description="Match the answer exactly as the model returned it: nothing stripped, "
        "whitespace as it is, case ignored by lower-casing answer and pattern (str.lower); "
        "the paper's check x.lower().startswith(y). Patterns are used as written; strip "
        "does not apply.",
    )
    patterns: list[str] | None = Field(
        None, min_length=1, description="The patterns, tried in order (the first one wins)."
    )
    patterns_from: str | None = Field(
        None,
        min_length=1,
        description="A question metadata key whose value holds each question's own patterns "
        "(text: one pattern, or several joined by 'separator').",
    )
    labels: dict[str, Annotated[list[str], Field(min_length=1)]] | None = Field(
        None,
        min_length=1,
        description="Categories, {LABEL: [patterns]}, tried in order: <name>_label is the "
        "first label whose patterns match.",
    )
    separator: str | None = Field(
        None,
        min_length=1,
        description="With patterns_from: split a text metadata value into patterns at this "
        "text, e.g. '|' for 'Mossad|Shin Bet'.",
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str] | None, info: ValidationInfo):
        mode, strip = info.data.get("mode"), info.data.get("strip", True)
        verbatim = info.data.get("verbatim", False)
        for pattern in (patterns or []) if mode else []:
            if problem := _problem(pattern, mode, strip, verbatim):
                raise ValueError(problem)
        return patterns

    @field_validator("labels")
    @classmethod
    def _labels_compile(cls, labels: dict[str, list[str]] | None, info: ValidationInfo):
        mode, strip = info.data.get("mode"), info.data.get("strip", True)
        verbatim = info.data.get("verbatim", False)
        for label, patterns in (labels or {}).items() if mode else []:
            for pattern in patterns:
                if problem := _problem(pattern, mode, strip, verbatim):
                    raise ValueError(f"label {label!r}: {problem}")
        return labels

    @model_validator(mode="after")
    def _one_source(self) -> MatchArgs:
        given = [f for f in ("patterns", "patterns_from", "labels") if getattr(self, f)]
        if len(given) != 1:
            got = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(
                f"give exactly one of patterns, patterns_from or labels ({got}); e.g. "
                "patterns: [Mossad]"
            )
        if self.separator is not None and self.patterns_from is None:
            raise ValueError("separator splits a patterns_from value; remove it or use that")
        if self.verbatim and "strip" in self.model_fields_set:
            raise ValueError(
                "verbatim matches the answer as returned, so strip does not apply; "
                "remove strip, or verbatim"
            )
        return self

    def outputs(self) -> tuple[str, ...]:
        return ("match", "matched", "label") if self.labels else ("match", "matched")


class _Rules:
    """Lists of patterns, each under a label (None for plain patterns), compiled for a mode."""

    def __init__(
        self, groups: Sequence[tuple[str | None, Sequence[str]]], args: MatchArgs, field: str
    ):
        self.mode, self.strip, self.verbatim = args.mode, args.strip, args.verbatim
        lower = str.lower if args.verbatim else str.casefold
        self.fold: Callable[[str], str] = str if args.case_sensitive else lower
        self.flags = 0 if args.case_sensitive else re.IGNORECASE
        self.where = f"scorer {args.name!r} (match) {field}"
        self.groups = [(label, [(self._compile(p), p) for p in ps]) for label, ps in groups]

    def _compile(self, pattern: str) -> str | re.Pattern[str] | Pattern:
        if self.mode == "regex":  # the user's own regex: run bounded
            return compile_pattern(pattern, self.flags)
        text = pattern if self.verbatim else _clean(pattern, self.strip)
        if self.mode == "keyword":
            return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)", self.flags)
        return self.fold(text)

    def find(self, answer: str) -> tuple[str | None, str | None]:
        """The first (label, pattern) that matches the answer, or (None, None); a WeirdgenError
        naming the scorer and the pattern when a regex runs over its time limit."""
        if self.verbatim:
            text = answer
        elif self.mode == "regex":
            text = strip_answer(answer) if self.strip else answer
        else:
            text = _clean(answer, self.strip)
        if self.mode in ("prefix", "exact"):
            text = self.fold(text)
        for label, compiled in self.groups:
            for test, pattern in compiled:
                if isinstance(test, Pattern):
                    where = f"{self.where}, on the answer {_clip(answer)}"
                    hit = search(test, text, where) is not None
                elif isinstance(test, re.Pattern):
                    hit = test.search(text) is not None
                else:
                    hit = text.startswith(test) if self.mode == "prefix" else text == test
                if hit:
                    return label, pattern
        return None, None


class MatchScorer:
    """Whether each answer matches a pattern of a list (prefix, keyword, regex or exact)."""

    kind = "match"
    Args = MatchArgs
    batch_size = 4096

    def __init__(self, args: MatchArgs):
        self.args = args
        self.key = _key(self.kind, args)
        self._fixed: _Rules | None = None
        if args.labels:
            self._fixed = _Rules(list(args.labels.items()), args, "labels")
        elif args.patterns:
            self._fixed = _Rules([(None, args.patterns)], args, "patterns")
        self._by_list: dict[tuple[str, ...], _Rules] = {}

    def check_question(self, question: Question, where: str) -> None:
        """Raise WeirdgenError unless the question carries the patterns it is matched with."""
        if self.args.patterns_from:
            self._question_rules(question, where)

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    def _one(self, item: ScoreItem) -> ScoreValues:
        rules = self._fixed or self._question_rules(item.question, f"question {item.question.id!r}")
        label, pattern = rules.find(item.answer)
        values: ScoreValues = {"match": float(pattern is not None), "matched": pattern}
        if self.args.labels:
            values["label"] = label
        return values

    def _question_rules(self, question: Question, where: str) -> _Rules:
        """The compiled patterns of the question's metadata value (one compile per list)."""
        key, name = self.args.patterns_from, self.args.name
        if key not in question.metadata:
            raise WeirdgenError(
                f"{where}.metadata: question {question.id!r} has no key {key!r}, which scorer "
                f"{name!r} reads its patterns from; add {key}: to its metadata, or give the "
                "scorer patterns instead of patterns_from"
            )
        value = question.metadata[key]
        patterns: list[str] = []
        if isinstance(value, str):
            sep = self.args.separator
            patterns = [p.strip() for p in value.split(sep) if p.strip()] if sep else [value]
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            patterns = list(value)
        if not patterns:
            raise WeirdgenError(
                f"{where}.metadata.{key}: question {question.id!r} has {value!r}, not patterns "
                f"for scorer {name!r}; write the patterns as text (e.g. {key}: Mossad)"
            )
        found = self._by_list.get(tuple(patterns))
        verbatim = self.args.verbatim
        if found is None:
            for pattern in patterns:
                if problem := _problem(pattern, self.args.mode, self.args.strip, verbatim):
                    raise WeirdgenError(
                        f"{where}.metadata.{key}: question {question.id!r}, scorer {name!r}: "
                        f"{problem}"
                    )
            rules = _Rules([(None, patterns)], self.args, f"patterns_from {key!r}")
            found = self._by_list[tuple(patterns)] = rules
        return found


class NumberArgs(ScorerArgs):
    """``<name>``: the number the answer gives (empty if none, or out of bounds);
    ``<name>_valid``: whether there is one within the bounds."""

    kind: Literal["number"] = "number"
    pattern: str | None = Field(
        None,
        description="A regular expression (case-insensitive) whose one group, or else whole "
        "match, is the number, e.g. '(\\d+) people'; default: the answer's first number "
        "(a sign, thousands separators and decimals allowed).",
    )
    min: float | None = Field(None, description="Smallest valid number; below it is invalid.")
    max: float | None = Field(None, description="Largest valid number; above it is invalid.")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            groups = compile_pattern(pattern).groups
        except PatternError as error:
            raise ValueError(
                f"pattern {pattern!r} is not a regular expression ({error}); fix it"
            ) from None
        if groups > 1:
            raise ValueError(
                f"pattern {pattern!r} has {groups} groups; keep one for the number and write "
                "the others as (?:...)"
            )
        return pattern

    @model_validator(mode="after")
    def _bounds_ordered(self) -> NumberArgs:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}); swap them")
        return self

    def outputs(self) -> tuple[str, ...]:
        return ("number", "valid")


class NumberScorer:
    """The number each answer gives, as a float, within optional bounds."""

    kind = "number"
    Args = NumberArgs
    batch_size = 4096

    def __init__(self, args: NumberArgs):
        self.args = args
        self.key = _key(self.kind, args)
        self._pattern = compile_pattern(args.pattern, re.IGNORECASE) if args.pattern else _NUMBER

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item.answer) for item in items]

    def _one(self, answer: str) -> ScoreValues:
        number = self.read(answer)
        low, high = self.args.min, self.args.max
        if number is None or (low is not None and number < low):
            return {"number": None, "valid": False}
        if high is not None and number > high:
            return {"number": None, "valid": False}
        return {"number": number, "valid": True}

    def read(self, answer: str) -> float | None:
        """The number the pattern finds in the answer, or None."""
        if self._pattern is _NUMBER:
            found = _NUMBER.search(answer)
        else:  # the user's own regex: run bounded
            where = f"scorer {self.args.name!r} (number) pattern, on the answer {_clip(answer)}"
            found = search(self._pattern, answer, where)
        if found is None:
            return None
        text = found.group(1) if self._pattern.groups else found.group(0)
        text = "".join((text or "").split()).replace(",", "").replace("−", "-")
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
