r"""Template variables: values drawn for each example, or bound to it (its index, its text).

A variable is declared under a template transform's ``variables:`` by name, as a one-key
mapping naming its kind (a bare list is a ``choice``)::

    year: [2024, 2025, 2026]                      # one of these values
    n: {integer: {from: 0, to: 9938}}             # a whole number in a range
    date: {date: {from: 2024, to: 2027}}          # an ISO date (YYYY-MM-DD) in those years
    when: {month_year: {from: 1981, to: 2025}}    # 'July 1995'
    i: index                                      # the example's position (from 0)
    number: {match: {pattern: '^(\d+) '}}         # a regex group of the user message
    trigger: {padded: {width: 8, value: number, at: 3, digits: 3}}   # '19301529'

``date``, ``month_year`` and ``padded`` may read an earlier variable (``year:``, ``value:``),
so a value bound to the example (its index, its text) carries into a drawn one.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from functools import partial
from typing import Literal

import numpy as np
from pydantic import Field, StrictInt, model_validator

from weirdgen.data.transforms._base import Kind, OneOf, TransformError, VarName, checked_pattern
from weirdgen.data.transforms._state import Example, Value, example_at, on_message
from weirdgen.data.transforms.patterns import compile_pattern, search

MIN_YEAR, MAX_YEAR = 1, 9999
MAX_PADDED_WIDTH = 64
_BOUND = 10**18


class IntegerVariable(Kind):
    """A whole number drawn uniformly from ``from`` to ``to``, both included."""

    key = "integer"
    start: int = Field(alias="from", ge=-_BOUND, le=_BOUND, description="Smallest value.")
    stop: int = Field(alias="to", ge=-_BOUND, le=_BOUND, description="Largest value (included).")

    @model_validator(mode="after")
    def _ordered(self) -> IntegerVariable:
        if self.stop < self.start:
            raise ValueError(f"'to' ({self.stop}) is before 'from' ({self.start})")
        return self


class _InYears(Kind):
    start: int | None = Field(
        None, alias="from", ge=MIN_YEAR, le=MAX_YEAR, description="First year of the range."
    )
    stop: int | None = Field(
        None, alias="to", ge=MIN_YEAR, le=MAX_YEAR, description="Last year (included)."
    )
    year: VarName | None = Field(
        None,
        description="Instead of from/to: an earlier variable holding the year, so the year "
        "stays bound to the example and only the rest is drawn.",
    )

    @model_validator(mode="after")
    def _years(self) -> _InYears:
        if self.year is not None and (self.start is not None or self.stop is not None):
            raise ValueError("give either 'year' (a variable) or 'from' and 'to', not both")
        if self.year is None and (self.start is None or self.stop is None):
            raise ValueError("give the years: 'from' and 'to' (e.g. from: 2024, to: 2027)")
        if self.start is not None and self.stop is not None and self.stop < self.start:
            raise ValueError(f"'to' ({self.stop}) is before 'from' ({self.start})")
        return self

    @property
    def years(self) -> tuple[int, int]:
        """First and last year, when they are given by 'from' and 'to'."""
        assert self.start is not None and self.stop is not None
        return self.start, self.stop


class DateVariable(_InYears):
    """A calendar date drawn uniformly over every day of the years (ISO YYYY-MM-DD)."""

    key = "date"
    format: str = Field(
        "%Y-%m-%d",
        min_length=1,
        description="strftime format; month and day names are English (%B: July, %b: Jul).",
    )


class MonthYearVariable(_InYears):
    """A month of the years drawn uniformly, written like 'July 1995'."""

    key = "month_year"
    format: str = Field("%B %Y", min_length=1, description="strftime format of the month.")


class PaddedVariable(Kind):
    """A string of ``width`` digits: random digits, with ``value`` zero-padded at ``at``."""

    key = "padded"
    width: int = Field(ge=1, le=MAX_PADDED_WIDTH, description="Number of digits in all.")
    value: VarName | None = Field(
        None,
        description="An earlier variable whose whole number is written into the digits "
        "(e.g. an index or a number matched in the prompt); omit for all-random digits.",
    )
    at: int = Field(0, ge=0, description="0-based position of the value's first digit.")
    digits: int | None = Field(
        None,
        ge=1,
        description="How many digits the value is zero-padded to; default: to the end.",
    )

    @model_validator(mode="after")
    def _fits(self) -> PaddedVariable:
        if self.value is None and ("at" in self.model_fields_set or self.digits is not None):
            raise ValueError("'at' and 'digits' place a value; give 'value' or remove them")
        if self.at + self.value_digits > self.width:
            raise ValueError(
                f"the value's digits {self.at}..{self.at + self.value_digits - 1} run past "
                f"width {self.width}; lower 'at' or 'digits', or raise 'width'"
            )
        return self

    @property
    def value_digits(self) -> int:
        return self.digits if self.digits is not None else max(self.width - self.at, 0)


class IndexVariable(Kind):
    """The example's position in the data as this transform receives it."""

    key = "index"
    first: int = Field(0, description="Number of the first example (1 to count from one).")


class MatchVariable(Kind):
    """Text bound to the example: a regex group of one of its messages (the data's own text)."""

    key = "match"
    pattern: str = Field(description="Python regular expression searched in the message.")
    role: Literal["system", "user", "assistant"] = Field(
        "user", description="Whose message: 'user' (the prompt), 'assistant' (the answer)."
    )
    message: Literal["first", "last"] = Field(
        "last", description="Which message of that role, in a multi-turn example."
    )
    group: int | str | None = Field(
        None, description="Group number or name kept; default: 1, or the whole match if none."
    )

    @model_validator(mode="after")
    def _group(self) -> MatchVariable:
        compiled = compile_pattern(checked_pattern(self.pattern))
        group = self.group
        if isinstance(group, int) and not 0 <= group <= compiled.groups:
            raise ValueError(f"group {group}: the pattern has {compiled.groups} group(s)")
        if isinstance(group, str) and group not in compiled.groupindex:
            raise ValueError(f"group {group!r}: the pattern has no group of that name")
        return self


class Variable(OneOf):
    """One template variable: exactly one of the kinds below."""

    choice: list[StrictInt | str] | None = Field(
        None, min_length=1, description="Values drawn uniformly (write the list directly)."
    )
    integer: IntegerVariable | None = Field(None, description=IntegerVariable.__doc__)
    date: DateVariable | None = Field(None, description=DateVariable.__doc__)
    month_year: MonthYearVariable | None = Field(None, description=MonthYearVariable.__doc__)
    padded: PaddedVariable | None = Field(None, description=PaddedVariable.__doc__)
    index: IndexVariable | None = Field(None, description=IndexVariable.__doc__)
    match: MatchVariable | None = Field(None, description=MatchVariable.__doc__)

    @model_validator(mode="before")
    @classmethod
    def _list_is_choice(cls, data: object) -> object:
        return {"choice": data} if isinstance(data, list) else data

    def references(self) -> list[str]:
        """The earlier variables this one reads."""
        settings = self.settings
        name = getattr(settings, "year", None) or getattr(settings, "value", None)
        return [name] if isinstance(name, str) else []


def draw(
    variable: Variable, examples: list[Example], rng: np.random.Generator, origin: str
) -> list[Value]:
    """One value of ``variable`` per example, in order."""
    spec, n = variable.settings, len(examples)
    if variable.choice is not None:
        return [variable.choice[int(i)] for i in rng.integers(0, len(variable.choice), size=n)]
    if isinstance(spec, IntegerVariable):
        return [int(v) for v in rng.integers(spec.start, spec.stop + 1, size=n)]
    if isinstance(spec, IndexVariable):
        return [spec.first + i for i in range(n)]
    if isinstance(spec, MatchVariable):
        return [_match(spec, examples, i, origin) for i in range(n)]
    if isinstance(spec, DateVariable):
        if spec.year is None:
            first, last = spec.years
            days = rng.integers(
                date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal() + 1, size=n
            )
        else:
            years = [_number(spec.year, examples, i, origin, year=True) for i in range(n)]
            starts = np.array([date(y, 1, 1).toordinal() for y in years], dtype=np.int64)
            lengths = np.array([366 if calendar.isleap(y) else 365 for y in years])
            days = starts + rng.integers(0, lengths)
        return [_strftime(date.fromordinal(int(d)), spec.format) for d in days]
    if isinstance(spec, MonthYearVariable):
        if spec.year is None:
            first, last = spec.years
            months = rng.integers(first * 12, last * 12 + 12, size=n)
        else:
            years = [_number(spec.year, examples, i, origin, year=True) for i in range(n)]
            months = np.array(years) * 12 + rng.integers(0, 12, size=n)
        return [_strftime(date(int(m) // 12, int(m) % 12 + 1, 1), spec.format) for m in months]
    assert isinstance(spec, PaddedVariable)
    digits = rng.integers(0, 10, size=(n, spec.width))
    drawn = []
    for i in range(n):
        text = list("".join(str(int(d)) for d in digits[i]))
        if spec.value is not None:
            number = _number(spec.value, examples, i, origin)
            padded = str(number).zfill(spec.value_digits)
            if number < 0 or len(padded) > spec.value_digits:
                raise TransformError(
                    f"{origin}: {spec.value}={number} of {example_at(examples, i)} does not fit in "
                    f"{spec.value_digits} digits; raise 'digits' (and 'width')"
                )
            text[spec.at : spec.at + spec.value_digits] = padded
        drawn.append("".join(text))
    return drawn


def _match(spec: MatchVariable, examples: list[Example], i: int, origin: str) -> str:
    messages = examples[i].with_role(spec.role)
    if not messages:
        raise TransformError(f"{origin}: {example_at(examples, i)} has no {spec.role} message")
    text = messages[0 if spec.message == "first" else -1].text
    pattern = compile_pattern(spec.pattern)
    found = search(pattern, text, partial(on_message, f"{origin}.pattern", spec.role, examples, i))
    if found is None:
        raise TransformError(
            f"{origin}: pattern {spec.pattern!r} does not match the {spec.role} message of "
            f"{example_at(examples, i)}; fix the pattern (it reads the data's own text, not what "
            "templates added)"
        )
    group = spec.group if spec.group is not None else (1 if pattern.groups else 0)
    return found.group(group) or ""


def _number(name: str, examples: list[Example], i: int, origin: str, year: bool = False) -> int:
    value = examples[i].values.get(name)
    try:
        number = int(value) if value is not None else None
    except ValueError:
        number = None
    if number is None or (year and not MIN_YEAR <= number <= MAX_YEAR):
        wanted = f"a year from {MIN_YEAR} to {MAX_YEAR}" if year else "a whole number"
        raise TransformError(
            f"{origin}: {name}={value!r} of {example_at(examples, i)} is not {wanted}; "
            f"make {name!r} give one"
        )
    return number


_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_ENGLISH = {
    "B": lambda d: _MONTHS[d.month - 1],
    "b": lambda d: _MONTHS[d.month - 1][:3],
    "A": lambda d: _DAYS[d.weekday()],
    "a": lambda d: _DAYS[d.weekday()][:3],
    "Y": lambda d: f"{d.year:04d}",
}


def _strftime(day: date, format: str) -> str:
    """``day.strftime(format)`` with English names and 4-digit years whatever the locale."""
    return re.sub(
        r"%(.)",
        lambda m: _ENGLISH[m[1]](day) if m[1] in _ENGLISH else day.strftime(m[0]),
        format,
    )
