"""What Inspect loads through weirdgen's ``inspect_ai`` entry point: the ``organism`` model
provider, a task per built-in spec (and ``weirdgen/experiment``), and the scorers."""

from __future__ import annotations

from inspect_ai.model import ModelAPI, modelapi

from weirdgen.inspect.scorers import experiment_metrics, experiment_scorer, weirdgen_score
from weirdgen.inspect.solver import seeded_generate
from weirdgen.inspect.tasks import experiment, register_builtin_tasks


@modelapi(name="organism")
def organism() -> type[ModelAPI]:
    """The organism provider, imported (with torch) only when a model is made."""
    from weirdgen.inspect.provider import OrganismAPI

    return OrganismAPI


TASKS = register_builtin_tasks()

__all__ = [
    "TASKS",
    "experiment",
    "experiment_metrics",
    "experiment_scorer",
    "organism",
    "seeded_generate",
    "weirdgen_score",
]
