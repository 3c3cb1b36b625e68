"""What a run needs and costs, before it runs: finetunes, samples and judge calls, how many
are stored, their tokens, and an estimate in USD from a price table.

::

    from weirdgen.plan import estimate
    plan = estimate(weirdgen.load_spec("my_spec.yaml"), judge="openai/gpt-4.1-nano")
    plan.usd, plan.judge_calls, plan.samples
"""

from weirdgen.plan.budget import check_budget
from weirdgen.plan.estimate import estimate
from weirdgen.plan.model import Plan, Row
from weirdgen.plan.prices import Price, PriceTable, load_prices, price_file, shipped_prices

__all__ = [
    "Plan",
    "Price",
    "PriceTable",
    "Row",
    "check_budget",
    "estimate",
    "load_prices",
    "price_file",
    "shipped_prices",
]
