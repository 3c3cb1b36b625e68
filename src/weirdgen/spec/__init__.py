"""Experiment specs: the pydantic models of a spec YAML, and finding and loading spec files."""

from weirdgen.spec.load import (
    SpecInfo,
    builtin_spec_dir,
    list_specs,
    load_spec,
    resolve_spec_path,
)
from weirdgen.spec.models import (
    Condition,
    DatasetRef,
    EvalSet,
    EvaluationSpec,
    ExperimentSpec,
    MetricSpec,
    OrganismRecipe,
    Question,
    ScorerSpec,
    TrainSpec,
)

__all__ = [
    "Condition",
    "DatasetRef",
    "EvalSet",
    "EvaluationSpec",
    "ExperimentSpec",
    "MetricSpec",
    "OrganismRecipe",
    "Question",
    "ScorerSpec",
    "SpecInfo",
    "TrainSpec",
    "builtin_spec_dir",
    "list_specs",
    "load_spec",
    "resolve_spec_path",
]
