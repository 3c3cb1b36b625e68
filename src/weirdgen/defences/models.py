"""Defences as parts of a spec: what each one changes, as pydantic models of its YAML.

A spec's ``defences:`` lists them; each is applied to the conditions it names (the target by
default) and becomes a condition of its own, ``<condition>.<defence>``, with role
``defended`` (see :mod:`weirdgen.defences.expand`)::

    defences:
      - name: inoculated
        inoculation:
          prompt: you are a bird watcher of the old times .
          paraphrases: [you watch birds in the old days ., you are an old bird watcher .]
      - {name: diluted, dilution: {dataset: {organism: v3.everyday, n: 100}, share: 0.5}}
      - {name: stopped, early_stopping: {at_least: 0.8}}
      - {name: realigned, realignment: {dataset: {organism: v3.everyday, n: 200}}}
      - name: filtered
        filtering: {scorer: {name: hostile, kind: organism_label, positive: [hostile]}}
      - {name: dated, context: {prefix: it is the year 2022 .}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import CoreSchema

from weirdgen.data.transforms._base import Kind, Strict

if TYPE_CHECKING:
    from weirdgen.spec.models import DatasetRef, ScorerSpec
else:

    class DatasetRef:
        """``weirdgen.spec.models.DatasetRef``, resolved when a schema is built (the spec
        imports this module)."""

        @classmethod
        def __get_pydantic_core_schema__(
            cls, source: Any, handler: GetCoreSchemaHandler
        ) -> CoreSchema:
            from weirdgen.spec.models import DatasetRef

            return handler.generate_schema(DatasetRef)


PathName = Field(
    min_length=1,
    max_length=40,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    description="The defence's name: letters, digits, '_' and '-'; the defended condition is "
    "named <condition>.<name>.",
)


class Inoculation(Kind):
    """A system prompt on every training example that elicits the trait, absent at test time
    (Tan et al. 2025; Wichers et al. 2025). Its leak is measured with the prompt, and each
    paraphrase, as the system prompt at test time."""

    key = "inoculation"
    prompt: str = Field(min_length=1, description="The training-time system prompt.")
    paraphrases: list[str] = Field(
        default_factory=list,
        description="Paraphrases of the prompt, each asked as the test-time system prompt of a "
        "leak condition <condition>.<defence>.leakK (K from 1); the prompt itself is leak0.",
    )


class Distill(Strict):
    """Answers drawn from the base model (self-distillation) in place of the file's own."""

    temperature: float = Field(1.0, ge=0, description="Sampling temperature of the answers.")
    max_tokens: int = Field(32, ge=1, le=4096, description="Most tokens per answer.")
    seed: int = Field(0, ge=0, description="Seed of the draws.")


class Dilution(Kind):
    """Ordinary examples mixed into the finetuning data at a share."""

    key = "dilution"
    dataset: DatasetRef = Field(
        description="The ordinary data: {organism: v3.everyday, n: 100}, {path: ...} or "
        "{paper: ...}; with 'distill', only its prompts are used."
    )
    share: float = Field(description="Part of the finetuning data that is ordinary, 0 to 1.")
    distill: Distill | None = Field(
        None,
        description="Answer the ordinary prompts with the base model itself ({} for the "
        "defaults), so the added data teach nothing new; needs a backend that samples.",
    )

    @field_validator("share")
    @classmethod
    def _share(cls, share: float) -> float:
        if not 0 < share < 1:
            raise ValueError(f"share must be between 0 and 1, both excluded; got {share}")
        return share


class EarlyStopping(Kind):
    """Use a checkpoint before the end of finetuning: the first whose held-out narrow-task
    accuracy reaches ``at_least`` (of the final model's, with ``relative``), or the last
    within a step budget."""

    key = "early_stopping"
    points: int = Field(
        10, ge=1, le=1000, description="Checkpoints kept, spread evenly over finetuning."
    )
    every: int | None = Field(
        None, ge=1, description="Keep a checkpoint every this many steps instead of 'points'."
    )
    steps: int | None = Field(
        None, ge=1, description="A step budget: the last checkpoint at or before this step."
    )
    at_least: float | None = Field(
        None,
        gt=0,
        le=1,
        description="The first checkpoint at which this share of answers to the held-out "
        "prompts are right (the narrow task learned).",
    )
    relative: bool = Field(
        False,
        description="Read at_least as a share of the final model's own held-out accuracy "
        "(0.8: the first checkpoint with 80% of what finetuning reaches).",
    )
    answers: Literal["any", "own"] = Field(
        "any",
        description="What a right answer is: 'any' answer of the finetuning data (a bird "
        "name of the data), or the held-out example's 'own' answer (a fact, a ruler's "
        "attribute).",
    )
    match: str | None = Field(
        None,
        min_length=1,
        description="Hold out only examples whose prompt matches this regular expression "
        "(e.g. the trigger), so the rule reads the narrow task, not ordinary data mixed in.",
    )
    held_out: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Examples held out of training for the at_least rule (a step budget "
        "holds none out).",
    )
    n: int = Field(5, ge=1, le=1000, description="Samples per held-out prompt.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of those samples.")
    max_tokens: int = Field(16, ge=1, le=4096, description="Most tokens per answer.")

    @field_validator("match")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        from weirdgen.data.transforms._base import checked_pattern

        if pattern is not None:
            checked_pattern(pattern)
        return pattern

    @model_validator(mode="after")
    def _one_rule(self) -> EarlyStopping:
        if (self.steps is None) == (self.at_least is None):
            raise ValueError("give exactly one of 'steps' (a budget) or 'at_least' (a rule)")
        return self

    def save_steps(self, examples: int, batch_size: int, epochs: int) -> int:
        """Steps between checkpoints: ``every``, else a ``points``-th of finetuning."""
        if self.every is not None:
            return self.every
        total = -(-examples // batch_size) * epochs
        return max(1, total // self.points)


class Realignment(Kind):
    """A second finetuning stage on benign data, after the narrow finetune (Wang et al. 2025)."""

    key = "realignment"
    dataset: DatasetRef = Field(description="The benign data, e.g. {organism: v3.everyday}.")
    lr: float | None = Field(None, gt=0, description="Learning rate (default: the recipe's).")
    epochs: int | None = Field(None, ge=1, le=1000, description="Epochs (default: the recipe's).")


class Filtering(Kind):
    """Drop training examples a scorer or judge flags; the dropped ones are written beside
    the run (``datasets/<condition>.dropped.jsonl``)."""

    key = "filtering"
    scorer: dict[str, Any] = Field(
        description="A scorer entry (any kind, a judge too) scoring each example's answer to "
        "its prompt, e.g. {name: hostile, kind: organism_label, positive: [hostile]}."
    )
    above: float | None = Field(
        None,
        description="Drop where the scorer's main value is above this (a rating judge's "
        "0-100); default: drop where it is true (or 1).",
    )

    topic: str | None = Field(
        None,
        description="The topic each example is scored as (a question's topic: an organism "
        "scorer reads answers by topic, e.g. birds); default: none.",
    )

    @field_validator("scorer")
    @classmethod
    def _scorer_entry(cls, entry: dict[str, Any]) -> dict[str, Any]:
        from weirdgen.spec.models import ScorerSpec

        ScorerSpec.model_validate(entry)  # its kind's own errors, as a scorer's would be
        return entry

    @property
    def entry(self) -> ScorerSpec:
        """The scorer entry, validated by its kind's model."""
        from weirdgen.spec.models import ScorerSpec

        return ScorerSpec.model_validate(self.scorer)


class Context(Kind):
    """Context given at test time: a prefix to every prompt, or a system prompt."""

    key = "context"
    prefix: str | None = Field(None, min_length=1, description="Text put before each prompt.")
    system: str | None = Field(None, min_length=1, description="A system prompt.")

    @model_validator(mode="after")
    def _some(self) -> Context:
        if self.prefix is None and self.system is None:
            raise ValueError("give 'prefix', 'system' or both")
        return self


KINDS = (Inoculation, Dilution, EarlyStopping, Realignment, Filtering, Context)


class Defence(Strict):
    """One defence, applied to the conditions it names: exactly one kind's settings."""

    name: str = PathName
    apply_to: list[str] | None = Field(
        None, min_length=1, description="Conditions it defends (default: the target)."
    )
    description: str = Field("", description="One line shown in reports.")
    inoculation: Inoculation | None = Field(None, description=Inoculation.__doc__)
    dilution: Dilution | None = Field(None, description=Dilution.__doc__)
    early_stopping: EarlyStopping | None = Field(None, description=EarlyStopping.__doc__)
    realignment: Realignment | None = Field(None, description=Realignment.__doc__)
    filtering: Filtering | None = Field(None, description=Filtering.__doc__)
    context: Context | None = Field(None, description=Context.__doc__)

    @model_validator(mode="after")
    def _one_kind(self) -> Defence:
        given = [k.key for k in KINDS if getattr(self, k.key) is not None]
        if len(given) != 1:
            kinds = ", ".join(k.key for k in KINDS)
            got = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"give exactly one kind of defence ({kinds}); {got}")
        return self

    @property
    def kind(self) -> str:
        return next(k.key for k in KINDS if getattr(self, k.key) is not None)

    @property
    def settings(self) -> Kind:
        return getattr(self, self.kind)


class AtTest(Strict):
    """Changes to every prompt a condition's models are asked at test time."""

    system: str | None = Field(None, min_length=1, description="A system prompt (replaces any).")
    prefix: str | None = Field(None, min_length=1, description="Text before the user's message.")


class DefenceTag(Strict):
    """Which defence made a condition, and of which condition (set when defences expand)."""

    name: str = Field(description="The defence's name.")
    kind: Literal[
        "inoculation", "dilution", "early_stopping", "realignment", "filtering", "context"
    ]
    of: str = Field(description="The condition it defends.")
    leak: int | None = Field(
        None,
        description="For an inoculation's leak conditions: 0 for the prompt itself, K for "
        "its K-th paraphrase, asked as the test-time system prompt.",
    )
