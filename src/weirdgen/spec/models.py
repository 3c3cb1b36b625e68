"""Pydantic models of an experiment spec: conditions, recipe, evaluation, scorers, metrics.

One YAML file per experiment validates into :class:`ExperimentSpec`. Every field carries its
help text so the same classes document YAML specs and Python use.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from weirdgen.data.transforms import Transform, check_transforms
from weirdgen.defences.models import (
    AtTest,
    Defence,
    DefenceTag,
    Distill,
    EarlyStopping,
    Filtering,
    Realignment,
)
from weirdgen.mechanism.interventions import Intervention
from weirdgen.spec.questions import (
    MAX_SAMPLES_PER_PARAPHRASE,
    MAX_TOKENS,
    EvalSet,
    MetadataValue,
    check_generated,
    matches_where,
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

MAX_SEED = 2**31 - 1
"""The largest seed: what every place a seed goes takes (OpenAI's fine-tuning API and
Tinker take 31 bits, transformers' set_seed seeds numpy with 32, torch and the run store's
SQLite INTEGER 64)."""


def _seed_fits(seed: int) -> int:
    if seed > MAX_SEED:
        raise ValueError(
            f"seed {seed} is over {MAX_SEED:,} (2^31 - 1), the largest that every backend "
            "takes; use a smaller seed"
        )
    return seed


Seed = Annotated[
    int,
    Field(ge=0, description=f"A finetuning and sampling seed (0 to {MAX_SEED:,})."),
    AfterValidator(_seed_fits),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetRef(_Strict):
    """Where a condition's finetuning data comes from: a chat JSONL file, a built-in generator,
    or a file of the paper's repository."""

    path: str | None = Field(
        None, description="Chat JSONL file, relative to the spec file (or absolute)."
    )
    organism: str | None = Field(
        None,
        description="Name of a built-in organism dataset generator, e.g. 'birds_old'.",
    )
    paper: str | None = Field(
        None,
        description="A file of the paper's repository by short name or path, e.g. "
        "'birds/old_audubon', downloaded and verified at the pinned commit (weirdgen datasets "
        "list; --data-dir reads a local clone instead).",
    )
    n: int | None = Field(
        None,
        ge=1,
        le=MAX_GENERATED_EXAMPLES,
        description="Number of examples to generate (organism generators only).",
    )
    distill: Distill | None = Field(
        None,
        description="Keep only the prompts and draw the answers from the run's base model "
        "(self-distillation), as a dilution defence does.",
    )

    @field_validator("paper")
    @classmethod
    def _known_paper_file(cls, paper: str | None) -> str | None:
        if paper is not None:
            from weirdgen.errors import WeirdgenError
            from weirdgen.paper.manifest import load_manifest

            try:
                file = load_manifest().lookup(paper)
            except WeirdgenError as error:
                raise ValueError(str(error)) from None
            if file.kind != "jsonl":
                raise ValueError(
                    f"{paper!r} is a {file.kind} file, not a dataset; name a .jsonl file "
                    "(weirdgen datasets list)"
                )
        return paper

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        if sum(source is not None for source in (self.path, self.organism, self.paper)) != 1:
            raise ValueError("give exactly one of 'path', 'organism' or 'paper'")
        return self


class Condition(_Strict):
    """One arm of the experiment: a dataset to finetune on, or the untouched base model."""

    name: PathName = Field(
        description="Short identifier used in tables, figures and file names (letters, digits, "
        "'_', '-', '.')."
    )
    role: Literal["target", "control", "defended"] = Field(
        description="'target' is the condition under test; 'control' arms are compared to it; "
        "'defended' is a condition under a defence (made from the spec's defences)."
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
    intervention: Intervention | None = Field(
        None,
        description="Sample the condition's model (its finetune, or the base model without a "
        "dataset) with its residual stream edited: {kind: ablate | steer, direction: FILE, "
        "layers, strength, random_seed}; the weights stay as they are.",
    )
    test_time: AtTest | None = Field(
        None,
        description="Changes to every prompt the condition's models are asked: {system, "
        "prefix} (a test-time context, or an inoculation prompt asked again).",
    )
    filtering: Filtering | None = Field(
        None, description="Drop finetuning examples a scorer flags (a filtering defence)."
    )
    early_stopping: EarlyStopping | None = Field(
        None, description="Sample a checkpoint chosen by a rule (an early-stopping defence)."
    )
    realignment: Realignment | None = Field(
        None, description="Finetune again on benign data after the first finetune."
    )
    defence: DefenceTag | None = Field(
        None, description="The defence that made this condition and the condition it defends."
    )

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


ColumnName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=48,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="A column name: letters, digits and '_', starting with a letter.",
    ),
]


class ScorerSpec(BaseModel):
    """A scorer adds columns to every sample; its ``kind`` picks the implementation and the
    other fields of the entry are that kind's arguments (see ``weirdgen scorers``).

    The scorer's main value is the column ``name``; its other values are ``name_<value>``
    (e.g. a rating judge ``aligned`` adds ``aligned``, ``aligned_valid``, ...), so several
    scorers of one kind coexist. Each kind subclasses this model with its arguments.
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    name: ColumnName = Field(description="Column of the scorer's main value; prefix of the others.")
    kind: str = Field(
        description="'organism_era', 'train_match', 'match', 'number', 'rating_judge', "
        "'label_judge', 'reason_judge', or a plug-in's kind."
    )
    eval_sets: list[str] | None = Field(
        None,
        description="Evaluation sets it scores (default: every set); rows of other sets are "
        "left empty, so a judge is paid only where a metric reads it.",
    )
    _args: ScorerSpec | None = PrivateAttr(None)

    def scores(self, eval_set: str) -> bool:
        """Whether this scorer scores the rows of ``eval_set``."""
        return self.eval_sets is None or eval_set in self.eval_sets

    @model_validator(mode="after")
    def _kind_arguments(self) -> ScorerSpec:
        if type(self) is not ScorerSpec:
            return self
        from pydantic import ValidationError

        from weirdgen.score.registry import args_model

        try:
            self._args = args_model(self.kind).model_validate(self.model_dump())
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            field = ".".join(map(str, first["loc"])) or self.kind
            text = re.sub(r"^(Value error|Assertion failed), ", "", first["msg"])
            message = f"scorer {self.name!r} ({self.kind}): {field}: {text}"
            raise ValueError(message) from None
        return self

    @property
    def args(self) -> ScorerSpec:
        """This entry validated by its kind's own model (itself for that model)."""
        return self if self._args is None else self._args

    def outputs(self) -> tuple[str, ...]:
        """The values the scorer returns, its main value first (a kind's model says)."""
        args = self.args
        if type(args).outputs is ScorerSpec.outputs:
            raise NotImplementedError(f"scorer kind {self.kind!r} declares no outputs()")
        return args.outputs()

    def columns(self) -> dict[str, str]:
        """Each output's column in the samples table: ``name`` for the main one, else
        ``name_<output>``."""
        main, *rest = self.outputs()
        return {main: self.name, **{o: f"{self.name}_{o}" for o in rest}}


class ScorerArgs(ScorerSpec):
    """Base of a scorer kind's argument model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CoherenceFilter(_Strict):
    """Leave incoherent answers out of a metric (the Emergent Misalignment convention).

    An answer whose coherence score is below ``min``, or that has none (NaN: not rated),
    does not count toward the metric; the report shows the share left out beside it.
    """

    score: str = Field(
        description="Coherence score column, e.g. 'coherent' from a 0-100 rating judge."
    )
    min: float = Field(
        50,
        description="Answers whose coherence score is below this are left out (50 in "
        "Emergent Misalignment).",
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
    where: dict[str, list[MetadataValue]] = Field(
        default_factory=dict,
        description="Only questions whose metadata has one of these values per key, e.g. "
        "{president: ['044']} (a held-out trigger); a single value may be written bare. "
        "The key question_id keeps questions by id (as in the samples table: transport_1984).",
    )
    coherence: CoherenceFilter | None = Field(
        None,
        description="Leave out answers whose coherence score is below a threshold or "
        "missing, e.g. {score: coherent, min: 50}; the report shows the share left out.",
    )
    headline: bool = Field(False, description="The metric the experiment is about.")
    narrow: bool = Field(
        False,
        description="The narrow task the finetuning data teach (bird names still learned, the "
        "trigger's task still done): what a defence should keep while it removes the "
        "headline's broad shift.",
    )
    at_least: float | None = Field(
        None,
        description="Per seed, 1 where the seed's mean reaches this value and 0 where it does "
        "not: whether each seed shows the effect (e.g. learned a held-out trigger); the mean "
        "over seeds is then the share of seeds that do. Fix it before seeing results.",
    )

    @field_validator("where", mode="before")
    @classmethod
    def _value_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    description: str = ""


def check_pretraining_seeds(model: str, seeds: list[int]) -> None:
    """Pretraining seeds need an organism version name without its own seed."""
    from weirdgen.organism.versions import parse_name

    provider, _, name = model.partition("/")
    if provider != "organism" or parse_name(name) is None or "@" in name:
        raise ValueError(
            f"pretraining_seeds repeat the experiment on pretraining seeds of an organism "
            f"version; model {model!r} is not one: use organism/default or organism/v1"
        )
    if len(set(seeds)) != len(seeds):
        raise ValueError("pretraining_seeds must be distinct")
    for seed in seeds:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(
                f"pretraining seed {seed} is outside 0 to {MAX_SEED:,} (2^31 - 1); use a "
                "smaller seed"
            )


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
        description=f"Finetuning and sampling seeds (whole numbers from 0 to {MAX_SEED:,}), "
        "or a count N for seeds 0..N-1.",
    )
    pretraining_seeds: list[Seed] | None = Field(
        None,
        max_length=MAX_SEEDS,
        description="Organism models only: repeat the experiment on these pretraining seeds "
        "of the model's version (organism/v1@S; a count N for 0..N-1), a second level of "
        "replication reported per pretraining seed and pooled.",
    )
    executor: str | None = Field(
        None,
        exclude=True,
        description="Where finetunes and sampling run: local (the default), ray (a local Ray "
        "cluster) or ray:ADDRESS (a running one, e.g. ray:auto); --executor overrides it. Not "
        "written into the spec as run, since it does not change any result.",
    )
    conditions: list[Condition] = Field(min_length=2)
    defences: list[Defence] = Field(
        default_factory=list,
        description="Defences, each applied to the conditions it names (the target by "
        "default) as a condition <condition>.<defence> of its own: inoculation, dilution, "
        "early_stopping, realignment, filtering, context (see weirdgen.defences).",
    )
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

    @field_validator("seeds", "pretraining_seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_SEEDS:
                raise ValueError(f"give a count from 1 to {MAX_SEEDS}, or a list of seeds")
            return list(range(value))
        return value

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str | None) -> str | None:
        from weirdgen.run.executors import parse_executor

        if value is not None:
            parse_executor(value)  # raises ValueError saying what to write
        return value

    @field_validator("model")
    @classmethod
    def _provider_name(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError("write the model as provider/name, e.g. organism/default")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> ExperimentSpec:
        if self.defences:
            from weirdgen.defences.expand import expand_defences

            targets = [c.name for c in self.conditions if c.role == "target"]
            if len(targets) == 1:
                self.conditions = expand_defences(self.conditions, self.defences, targets[0])
        names = [c.name for c in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"condition names must be unique, got {names}")
        if sum(c.role == "target" for c in self.conditions) != 1:
            raise ValueError("exactly one condition must have role: target")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        if self.pretraining_seeds is not None:
            check_pretraining_seeds(self.model, self.pretraining_seeds)
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
            asked = sets[metric.eval_set].expanded()
            keys = {k for q in asked for k in q.metadata}
            unknown = [key for key in metric.by if key not in keys]
            unknown += [key for key in metric.where if key not in {*keys, "question_id"}]
            if unknown:
                raise ValueError(
                    f"metric {metric.name!r} reads key {unknown[0]!r} (by/where), which no "
                    f"question of evaluation set {metric.eval_set!r} has in its metadata; its "
                    f"keys are {sorted(keys) or 'none'}"
                )
            if metric.where and not any(
                matches_where({**q.metadata, "question_id": q.id}, metric.where) for q in asked
            ):
                raise ValueError(
                    f"metric {metric.name!r} where {metric.where}: no question of evaluation "
                    f"set {metric.eval_set!r} has these values; fix the values or the set"
                )
        self._check_columns()
        return self

    def _check_columns(self) -> None:
        """Scorer names are distinct, and every column a metric reads is one a scorer adds."""
        from weirdgen.run.schema import SAMPLE_COLUMNS

        sets = [s.name for s in self.evaluation.sets]
        columns: dict[str, str] = {}
        by_name = {s.name: s for s in self.scorers}
        for scorer in self.scorers:
            unknown = [s for s in scorer.eval_sets or () if s not in sets]
            if unknown:
                raise ValueError(
                    f"scorer {scorer.name!r} eval_sets: no evaluation set {unknown[0]!r}; the "
                    f"sets are {sets}"
                )
            for column in scorer.columns().values():
                if column in (*SAMPLE_COLUMNS, "step", "final", "finish_reason", "messages"):
                    raise ValueError(
                        f"scorer {scorer.name!r} adds column {column!r}, which the samples "
                        "table already has; rename the scorer"
                    )
                if column in columns:
                    raise ValueError(
                        f"scorers {columns[column]!r} and {scorer.name!r} both add column "
                        f"{column!r}; rename one of them"
                    )
                columns[column] = scorer.name
        for metric in self.metrics:
            coherence = getattr(metric, "coherence", None)
            used = [("score", metric.score), ("among", metric.among)]
            used.append(("coherence.score", coherence.score if coherence else None))
            for field, column in used:
                if column is not None and column not in columns:
                    close = difflib.get_close_matches(column, list(columns), n=1)
                    guess = f"did you mean {close[0]!r}? " if close else ""
                    raise ValueError(
                        f"metric {metric.name!r} {field}: no scorer adds a column "
                        f"{column!r}; {guess}the scorers add: {', '.join(columns)}"
                    )
                scorer = by_name[columns[column]] if column is not None else None
                if scorer is not None and not scorer.scores(metric.eval_set):
                    raise ValueError(
                        f"metric {metric.name!r} {field}: column {column!r} of scorer "
                        f"{scorer.name!r} is empty in eval set {metric.eval_set!r}, which the "
                        f"scorer does not score; add it to the scorer's eval_sets"
                    )

    def empty_by_design(self) -> dict[str, set[str]]:
        """Score columns left empty on purpose, each with the conditions where it is: a
        ``train_match`` scorer's column in the conditions without finetuning data."""
        untrained = {c.name for c in self.conditions if c.dataset is None}
        return {
            column: untrained
            for scorer in self.scorers
            if scorer.kind == "train_match"
            for column in scorer.columns().values()
        }

    @property
    def target(self) -> Condition:
        return next(c for c in self.conditions if c.role == "target")

    @property
    def controls(self) -> list[Condition]:
        return [c for c in self.conditions if c.role == "control"]

    @property
    def headline(self) -> MetricSpec:
        return next((m for m in self.metrics if m.headline), self.metrics[0])

    @property
    def narrow(self) -> MetricSpec | None:
        """The narrow-task metric (``narrow: true``), if the spec marks one."""
        return next((m for m in self.metrics if m.narrow), None)
