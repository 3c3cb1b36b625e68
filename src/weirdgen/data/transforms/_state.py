"""Examples while transforms apply: the data's own text apart from the templates added to it.

Keeping added templates as slots (rendered only at the end) is what lets ``shuffle`` permute a
variable after its prefix was added, ``drop: {template}`` take exactly that text back out, and
patterns read only what the dataset itself says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weirdgen.data.chat import ChatExample, ChatMessage
from weirdgen.data.transforms._base import TransformError, template_fields

Value = str | int
"""A drawn variable's value: text (dates, padded numbers, matches) or a whole number."""

_PREVIEW_CHARS = 40


@dataclass
class Slot:
    """A template added next to a message's text, rendered with the example's values."""

    template: str
    separator: str
    origin: str
    """The field path of the transform that added it, for errors."""

    def render(self, values: dict[str, Value], where: str) -> str:
        try:
            return self.template.format_map(values)
        except KeyError as error:
            raise TransformError(
                f"{self.origin}.template: {where} has no value for {{{error.args[0]}}}; "
                "declare the variable for every example the template reaches"
            ) from None
        except (ValueError, TypeError) as error:
            raise TransformError(
                f"{self.origin}.template: {error} for {where}'s values "
                f"{_shown(values, template_fields(self.template))}; fix the format after ':'"
            ) from None


@dataclass
class Message:
    """One turn: the data's own ``text`` with slots before it and after it (innermost first)."""

    role: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)
    before: list[Slot] = field(default_factory=list)
    after: list[Slot] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.text and not self.before and not self.after

    def render(self, values: dict[str, Value], where: str) -> str:
        """The message's content: each slot joined to what it wraps by its separator."""
        content = self.text
        for slot in self.before:
            added = slot.render(values, where)
            content = added + (slot.separator if content and added else "") + content
        for slot in self.after:
            added = slot.render(values, where)
            content = content + (slot.separator if content and added else "") + added
        return content


@dataclass
class Example:
    """A conversation in flight, with the values drawn for it so far."""

    messages: list[Message]
    extra: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)

    @classmethod
    def of(cls, example: ChatExample) -> Example:
        messages = [Message(m.role, m.content, dict(m.model_extra or {})) for m in example.messages]
        return cls(messages, dict(example.model_extra or {}))

    def with_role(self, role: str) -> list[Message]:
        return [message for message in self.messages if message.role == role]

    def to_chat(self, where: str) -> ChatExample:
        messages = tuple(
            ChatMessage(role=m.role, content=m.render(self.values, where), **m.extra)
            for m in self.messages
        )
        return ChatExample(messages=messages, **self.extra)

    def preview(self) -> str:
        """The last user message's own text, clipped, to recognize the example in errors."""
        text = next((m.text for m in reversed(self.messages) if m.role == "user"), "")
        text = " ".join(text.split())
        return repr(text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "...")


def example_at(examples: list[Example], index: int) -> str:
    """``example N ('its user text')`` for errors, N counted from 1 in the data as it is now."""
    return f"example {index + 1} ({examples[index].preview()})"


def _shown(values: dict[str, Value], names: list[str]) -> str:
    return ", ".join(f"{name}={values[name]!r}" for name in names if name in values) or "none"


def on_message(field: str, role: str, examples: list[Example], index: int) -> str:
    """``FIELD, on the ROLE message of example N (...)``: where a pattern ran, for its error."""
    return f"{field}, on the {role} message of {example_at(examples, index)}"
