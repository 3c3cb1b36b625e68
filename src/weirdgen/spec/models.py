"""Pydantic models of an experiment spec: conditions, recipe, evaluation, scorers, metrics.

One YAML file per experiment validates into :class:`ExperimentSpec`. Every field carries its
help text so the same classes document YAML specs and Python use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from weirdgen.data.transforms import Transform, check_transforms
from weirdgen.spec.questions import (
    MAX_SAMPLES_PER_PARAPHRASE,
    MAX_TOKENS,
    EvalSet,
    check_generated,
)
from weirdgen.spec.recipes import HfRecipe, OpenAIRecipe, OrganismRecipe, TinkerRecipe

MAX_SEEDS = 1000
MAX_GENERATED_EXAMPLES = 100_000

PathName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Used in file and folder names: letters, digits, '_', '-' and '.', "
        "starting with a letter or digit.",
    ),
]
"""A name that becomes part of a path in the run folder (a condition, the experiment)."""

Seed = Annotated[int, Field(ge=0, description="A finetuning and sampling seed (0 or more).")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetRef(_Strict):
    """Where a condition's finetuning data comes from: a chat JSONL file or a built-in generator."""

    path: str | None = Field(
        None, description="Chat JSONL file, relative to the spec file (or absolute)."
    )
    organism: str | None = Field(
        None,
        description="Name of a built-in organism dataset generator, e.g. 'birds_old'.",
    )
    n: int | None = Field(
        None,
        ge=1,
        le=MAX_GENERATED_EXAMPLES,
        description="Number of examples to generate (organism generators only).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        if (self.path is None) == (self.organism is None):
            raise ValueError("give exactly one of 'path' or 'organism'")
        return self


class Condition(_Strict):
    """One arm of the experiment: a dataset to finetune on, or the untouched base model."""

    name: PathName = Field(
        description="Short identifier used in tables, figures and file names (letters, digits, "
        "'_', '-', '.')."
    )
    role: Literal["target", "control"] = Field(
        description="'target' is the condition under test; 'control' arms are compared to it."
    )
    dataset: DatasetRef | None = Field(
        None, description="Finetuning data; omit for the untouched base model."
    )
    transforms: list[Transform] = Field(
        default_factory=list,
        description="Changes to the dataset, applied in order: prefix, suffix, system, drop, "
        "take, mix, shuffle (triggers, controls, dilution, mitigations).",
    )
    data_seed: int = Field(
        0,
        ge=0,
        description="Seed of the transforms' random draws: one dataset for every finetuning "
        "seed of the condition.",
    )
    description: str = Field("", description="One line shown in reports.")

    @model_validator(mode="after")
    def _transforms_need_data(self) -> Condition:
        if self.transforms and self.dataset is None:
            raise ValueError("transforms need a dataset; give the condition a 'dataset:'")
        check_transforms(self.transforms)
        return self


class TrainSpec(_Strict):
    """Training recipe per backend; each backend reads its own section."""

    organism: OrganismRecipe = Field(default_factory=OrganismRecipe)
    hf: HfRecipe = Field(default_factory=HfRecipe)
    openai: OpenAIRecipe = Field(default_factory=OpenAIRecipe)
    tinker: TinkerRecipe = Field(default_factory=TinkerRecipe)


class EvaluationSpec(_Strict):
    """Sampling settings of every evaluation set that does not set its own, and the sets."""

    n: int = Field(
        20,
        ge=1,
        le=MAX_SAMPLES_PER_PARAPHRASE,
        description="Samples per paraphrase, per condition and seed.",
    )
    temperature: float = Field(1.0, ge=0, description="Sampling temperature.")
    max_tokens: int = Field(8, ge=1, le=MAX_TOKENS, description="Most tokens generated per answer.")
    sets: list[EvalSet] = Field(min_length=1)


class ScorerSpec(_Strict):
    """A scorer adds columns to every sample; its kind picks the implementation."""

    name: str
    kind: Literal["organism_era", "train_match"] = Field(
        description=(
            "'organism_era': exact lexicon scoring (columns valid, old); "
            "'train_match': the answer is one of the condition's training answers."
        )
    )


class MetricSpec(_Strict):
    """A number per condition and seed: the mean of a score column over one evaluation set.

    Per seed, the column is averaged within each question first, then across questions.
    """

    name: str
    eval_set: str = Field(description="Name of the evaluation set it is computed on.")
    score: str = Field(description="Score column to average (e.g. 'old', 'valid').")
    among: str | None = Field(
        None, description="Only rows where this boolean score column is true (e.g. 'valid')."
    )
    by: list[str] = Field(
        default_factory=list,
        description="Question metadata keys to compute the metric for each value of "
        "(e.g. [year] for a year sweep); the report draws a numeric key as a curve.",
    )
    headline: bool = Field(False, description="The metric the experiment is about.")
    description: str = ""


class ExperimentSpec(_Strict):
    """A whole experiment: conditions x seeds, finetuned, sampled, scored and compared."""

    name: PathName = Field(
        description="Experiment name; the default run folder is runs/<name> (letters, digits, "
        "'_', '-', '.')."
    )
    description: str = ""
    model: str = Field(
        "organism/default", description="Base model as provider/name, e.g. organism/default."
    )
    seeds: list[Seed] = Field(
        min_length=1,
        max_length=MAX_SEEDS,
        description="Finetuning and sampling seeds (whole numbers, 0 or more), or a count N "
        "for seeds 0..N-1.",
    )
    conditions: list[Condition] = Field(min_length=2)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluation: EvaluationSpec
    scorers: list[ScorerSpec] = Field(min_length=1)
    metrics: list[MetricSpec] = Field(min_length=1)
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        """The file the spec was loaded from, if any."""
        return self._source

    @source.setter
    def source(self, path: Path | None) -> None:
        self._source = path

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_SEEDS:
                raise ValueError(f"give a count from 1 to {MAX_SEEDS}, or a list of seeds")
            return list(range(value))
        return value

    @field_validator("model")
    @classmethod
    def _provider_name(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError("write the model as provider/name, e.g. organism/default")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> ExperimentSpec:
        names = [c.name for c in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"condition names must be unique, got {names}")
        if sum(c.role == "target" for c in self.conditions) != 1:
            raise ValueError("exactly one condition must have role: target")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        sets = {s.name: s for s in self.evaluation.sets}
        if len(sets) != len(self.evaluation.sets):
            raise ValueError("evaluation set names must be unique")
        check_generated(self.evaluation.sets)
        for metric in self.metrics:
            if metric.eval_set not in sets:
                raise ValueError(
                    f"metric {metric.name!r} uses eval_set {metric.eval_set!r}; "
                    f"defined sets are {sorted(sets)}"
                )
            keys = {k for q in sets[metric.eval_set].expanded() for k in q.metadata}
            unknown = [key for key in metric.by if key not in keys]
            if unknown:
                raise ValueError(
                    f"metric {metric.name!r} is computed by {unknown[0]!r}, which no question "
                    f"of evaluation set {metric.eval_set!r} has in its metadata; its keys are "
                    f"{sorted(keys) or 'none'}"
                )
        return self

    @property
    def target(self) -> Condition:
        return next(c for c in self.conditions if c.role == "target")

    @property
    def controls(self) -> list[Condition]:
        return [c for c in self.conditions if c.role == "control"]

    @property
    def headline(self) -> MetricSpec:
        return next((m for m in self.metrics if m.headline), self.metrics[0])
