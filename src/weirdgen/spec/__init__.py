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
    EvaluationSpec,
    ExperimentSpec,
    MetricSpec,
    OrganismRecipe,
    ScorerSpec,
    TrainSpec,
)
from weirdgen.spec.questions import EvalSet, Message, Question, Range

__all__ = [
    "Condition",
    "DatasetRef",
    "EvalSet",
    "EvaluationSpec",
    "ExperimentSpec",
    "Message",
    "MetricSpec",
    "OrganismRecipe",
    "Question",
    "Range",
    "ScorerSpec",
    "SpecInfo",
    "TrainSpec",
    "builtin_spec_dir",
    "list_specs",
    "load_spec",
    "resolve_spec_path",
]
