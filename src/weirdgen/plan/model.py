"""What a plan says: one row per stage (finetune, sample, each judge) and the totals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One stage of a run: how much it needs, how much is stored, what the rest costs.

    Token counts and the cost are of what is still to do (``todo``: needed, less stored, less
    shared). ``exact`` is False where a token
    count was estimated from characters (shown with ``~``); ``usd`` is None where the price
    of ``model`` is unknown; ``assumed`` is True where a count rests on a guess (see the
    plan's notes).
    """

    stage: str
    """``finetune``, ``sample`` or ``judge``."""
    name: str
    """The judge's scorer name; empty for the other stages."""
    model: str
    needed: int
    stored: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    training_tokens: int = 0
    exact: bool = True
    usd: float | None = 0.0
    assumed: bool = False
    shared: int = 0
    """Judge calls an earlier judge of the run makes too (the same model, messages and
    settings): made once, for that judge, and answered here by the judge cache."""

    @property
    def todo(self) -> int:
        """What is still to compute (calls, samples or finetunes)."""
        return self.needed - self.stored - self.shared

    @property
    def label(self) -> str:
        """``finetune``, ``sample`` or ``judge <name>``."""
        return f"{self.stage} {self.name}" if self.name else self.stage


@dataclass(frozen=True)
class Plan:
    """Everything a run of ``spec`` into ``out`` needs, what is stored, and the estimate."""

    spec: str
    out: Path
    prices: Path
    """The price file read."""
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    """What was assumed or estimated, one line each."""

    @property
    def usd(self) -> float:
        """Estimated USD of what is to do, over the rows whose price is known."""
        return sum(r.usd or 0.0 for r in self.rows)

    @property
    def unknown(self) -> list[str]:
        """Models with work to do and no price, in row order."""
        return list(dict.fromkeys(r.model for r in self.rows if r.usd is None))

    def stage(self, stage: str) -> list[Row]:
        return [r for r in self.rows if r.stage == stage]

    def judge(self, name: str) -> Row:
        """The row of judge ``name``."""
        return next(r for r in self.rows if r.stage == "judge" and r.name == name)

    @property
    def finetunes(self) -> int:
        """Finetunes to train."""
        return sum(r.todo for r in self.stage("finetune"))

    @property
    def samples(self) -> int:
        """Samples to draw."""
        return sum(r.todo for r in self.stage("sample"))

    @property
    def judge_calls(self) -> int:
        """Judge calls to make, over every judge."""
        return sum(r.todo for r in self.stage("judge"))

    @property
    def done(self) -> bool:
        """Nothing left to compute."""
        return all(r.todo == 0 for r in self.rows)
