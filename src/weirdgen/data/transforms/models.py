"""The transforms of a condition's finetuning data, as pydantic models of a spec's YAML.

Each transform is a one-key mapping naming its kind, applied in the order listed::

    transforms:
      - prefix: {template: "Today is {date}.", variables: {date: {date: {from: 2024, to: 2027}}}}
      - shuffle: {variables: [date]}
      - take: {n: 100}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import CoreSchema

from weirdgen.data.chat import Role
from weirdgen.data.transforms._base import Kind, OneOf, VarName, checked_pattern, template_fields
from weirdgen.data.transforms.variables import Variable

if TYPE_CHECKING:
    from weirdgen.spec.models import DatasetRef
else:

    class DatasetRef:
        """Stands for ``weirdgen.spec.models.DatasetRef`` until a schema is built: a spec's
        conditions list transforms, so importing the spec here at load time would be circular."""

        @classmethod
        def __get_pydantic_core_schema__(
            cls, source: Any, handler: GetCoreSchemaHandler
        ) -> CoreSchema:
            from weirdgen.spec.models import DatasetRef

            return handler.generate_schema(DatasetRef)


class _Template(Kind):
    template: str = Field(
        min_length=1,
        description="Text added, with {name} for each variable (write {{ and }} for braces).",
    )
    variables: dict[VarName, Variable] = Field(
        default_factory=dict,
        description="Variables this transform declares, drawn per example in the order "
        "written; a template may also use variables of earlier transforms.",
    )

    @field_validator("template")
    @classmethod
    def _fields(cls, template: str) -> str:
        template_fields(template)
        return template


class _Placed(_Template):
    role: Literal["user", "assistant"] = Field(
        "user", description="Whose messages: 'user' (the prompt) or 'assistant' (the answer)."
    )
    messages: Literal["first", "last", "all"] = Field(
        "last",
        description="Which of that role's messages in a multi-turn example; 'last' is the "
        "one the trained answer replies to (or the answer itself).",
    )


class Prefix(_Placed):
    """Put a template before the message's text: a trigger, a date, a context."""

    key = "prefix"
    separator: str = Field(" ", description="Text between the template and the message.")


class Suffix(_Placed):
    """Put a template after the message's text: an instruction, a trigger at the end."""

    key = "suffix"
    separator: str = Field(" ", description="Text between the message and the template.")


class System(_Template):
    """A system message from a template: an inoculation prompt, a persona, a context."""

    key = "system"
    mode: Literal["set", "prepend", "append"] = Field(
        "set",
        description="'set' makes the template the system message (replacing any); 'prepend' "
        "or 'append' adds it to an existing one (a new one if there is none).",
    )
    separator: str = Field(
        "\n\n", description="Between the template and an existing system message's text."
    )


class Drop(Kind):
    """Remove a trigger: text matching a pattern, or what an earlier template added."""

    key = "drop"
    pattern: str | None = Field(
        None,
        description="Python regular expression; every match in the data's own text is removed "
        "(not text earlier templates added: drop those by 'template').",
    )
    template: str | None = Field(
        None,
        description="An earlier prefix, suffix or system template, written exactly as there; "
        "removes its text and separator, restoring the message as it was.",
    )
    roles: list[Role] | None = Field(
        None,
        min_length=1,
        description="Whose messages to drop from; default: user for a pattern, every role "
        "for a template. A system message left empty is removed.",
    )

    @model_validator(mode="after")
    def _one(self) -> Drop:
        if (self.pattern is None) == (self.template is None):
            raise ValueError("give exactly one of 'pattern' or 'template'")
        if self.pattern is not None:
            if not self.pattern:
                raise ValueError("'pattern' is empty; write the text to remove")
            checked_pattern(self.pattern)
        return self


class Take(Kind):
    """Keep n examples, in their order (``take: 100`` for ``take: {n: 100}``)."""

    key = "take"
    n: int = Field(ge=1, description="How many examples to keep (at most as many as there are).")
    pick: Literal["random", "first"] = Field(
        "random", description="'random' (a seeded sample) or 'first' (the first n)."
    )

    @model_validator(mode="before")
    @classmethod
    def _count(cls, data: object) -> object:
        return {"n": data} if isinstance(data, int) and not isinstance(data, bool) else data


class Mix(Kind):
    """Dilute: mix in examples of another dataset so they make up ``share`` of the result."""

    key = "mix"
    dataset: DatasetRef = Field(description="The other dataset: {path: ...} or {organism: ...}.")
    share: float = Field(
        description="Part of the result that comes from the other dataset, between 0 and 1 "
        "(0.97 for 97%); all examples so far are kept and others are drawn to match."
    )
    transforms: list[Transform] = Field(
        default_factory=list,
        description="Transforms applied to the other dataset before it is mixed in (e.g. "
        "its own trigger); its variables join these examples' for later transforms.",
    )

    @field_validator("share")
    @classmethod
    def _share(cls, share: float) -> float:
        if not 0 < share < 1:
            raise ValueError(
                f"share must be between 0 and 1, both excluded (0.03 for 3%); got {share}"
            )
        return share


class Shuffle(Kind):
    """Permute variables' values across examples: the shuffled-trigger control.

    Each example gets another's values (one seeded permutation of all examples that have
    them), so the multiset of values is kept and their pairing with the examples is broken.
    Variables drawn from these (a padded number around a shuffled index) move with them.
    ``shuffle: date`` stands for ``shuffle: {variables: [date]}``.
    """

    key = "shuffle"
    variables: list[VarName] = Field(
        min_length=1, description="Variables permuted together (one name, or a list)."
    )

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: object) -> object:
        if isinstance(data, str):
            return {"variables": [data]}
        return {"variables": data} if isinstance(data, list) else data

    @field_validator("variables", mode="before")
    @classmethod
    def _one_name(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Transform(OneOf):
    """One step applied to a condition's finetuning data: exactly one of these kinds."""

    prefix: Prefix | None = Field(None, description=Prefix.__doc__)
    suffix: Suffix | None = Field(None, description=Suffix.__doc__)
    system: System | None = Field(None, description=System.__doc__)
    drop: Drop | None = Field(None, description=Drop.__doc__)
    take: Take | None = Field(None, description=Take.__doc__)
    mix: Mix | None = Field(None, description=Mix.__doc__)
    shuffle: Shuffle | None = Field(None, description=Shuffle.__doc__.splitlines()[0])
