"""Refusing a run whose estimated cost exceeds the user's budget, before anything is written."""

from __future__ import annotations

from weirdgen.errors import WeirdgenError
from weirdgen.plan.model import Plan


def check_budget(plan: Plan, budget: float) -> None:
    """Raise a one-line WeirdgenError when what ``plan`` still has to do is estimated above
    ``budget`` USD, or when a model with work to do has no price (it could cost anything)."""
    if plan.unknown:
        stages = [r.label for r in plan.rows if r.usd is None and r.model == plan.unknown[0]]
        raise WeirdgenError(
            f"--budget ${budget:.2f}: no price for {plan.unknown[0]} ({', '.join(stages)}) "
            f"in {plan.prices}; add it to a price file (see docs/plan.md) or run without "
            "--budget"
        )
    if plan.usd > budget:
        finetunes = f"{plan.finetunes:,} finetunes, " if plan.finetunes else ""
        raise WeirdgenError(
            f"estimated ${plan.usd:.2f} for {finetunes}{plan.judge_calls:,} judge calls and "
            f"{plan.samples:,} samples exceeds --budget ${budget:.2f}; lower n/seeds, use a "
            "cheaper judge (weirdgen plan --judge prices one), or raise the budget"
        )
