"""Chat finetuning examples in the OpenAI format, and datasets of them with a content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from weirdgen.errors import WeirdgenError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

_PREVIEW_CHARS = 40


class ChatMessage(BaseModel):
    """One turn of a conversation.

    Extra keys (e.g. OpenAI's ``weight``) are kept as written and count towards the hash.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    role: Role
    content: str


class ChatExample(BaseModel):
    """One finetuning example: a conversation whose last message is the assistant target."""

    model_config = ConfigDict(frozen=True, extra="allow")

    messages: tuple[ChatMessage, ...]

    @classmethod
    def exchange(cls, user: str, assistant: str, system: str | None = None) -> ChatExample:
        """A single-turn example: an optional system prompt, one question, one answer."""
        turns = [] if system is None else [ChatMessage(role="system", content=system)]
        turns += [
            ChatMessage(role="user", content=user),
            ChatMessage(role="assistant", content=assistant),
        ]
        return cls(messages=tuple(turns))

    @property
    def answer(self) -> str:
        """The final assistant message: what finetuning teaches the model to say."""
        return self.messages[-1].content

    def to_json(self) -> str:
        """Compact JSON as written to a JSONL line (key order as in the model)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))

    def canonical_json(self) -> str:
        """Sorted-key JSON without whitespace: the same for the same content however written."""
        return json.dumps(
            self.model_dump(mode="json"),
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )


class Duplicate(NamedTuple):
    """An example that occurs more than once in a dataset."""

    first_line: int
    repeated_lines: tuple[int, ...]
    preview: str

    @property
    def count(self) -> int:
        """How many times the example occurs in all."""
        return 1 + len(self.repeated_lines)


@dataclass(frozen=True, eq=False)
class ChatDataset:
    """Finetuning examples in order, with where they came from.

    Attributes:
        examples: The conversations, in file order.
        source: The JSONL file they were read from, or None for an in-memory dataset.
        lines: For each example, its 1-based line in ``source`` (its position when in memory).
    """

    examples: tuple[ChatExample, ...]
    source: Path | None = None
    lines: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.lines:
            object.__setattr__(self, "lines", tuple(range(1, len(self.examples) + 1)))
        if len(self.lines) != len(self.examples):
            raise ValueError("ChatDataset needs one line number per example")

    def place(self, index: int) -> str:
        """Where example ``index`` came from: ``source:line``, or ``example N`` in memory."""
        line = self.lines[index]
        return f"{self.source}:{line}" if self.source is not None else f"example {line}"

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[ChatExample]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> ChatExample:
        return self.examples[index]

    @cached_property
    def content_hash(self) -> str:
        """sha256 hex of the examples in order, independent of whitespace and key order."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(example.canonical_json().encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    def duplicates(self) -> list[Duplicate]:
        """Examples that occur more than once, ordered by their first line."""
        seen: dict[str, list[int]] = {}
        first_example: dict[str, ChatExample] = {}
        for example, line in zip(self.examples, self.lines, strict=True):
            key = example.canonical_json()
            seen.setdefault(key, []).append(line)
            first_example.setdefault(key, example)
        return [
            Duplicate(lines[0], tuple(lines[1:]), _preview(first_example[key]))
            for key, lines in seen.items()
            if len(lines) > 1
        ]


def dataset_from_examples(
    examples: Iterable[ChatExample], source: str | Path | None = None
) -> ChatDataset:
    """Build an in-memory dataset, checking each conversation as ``load_chat_jsonl`` would.

    Args:
        examples: The conversations, in order.
        source: Where they notionally come from (used in error messages and reports).
    """
    examples = tuple(examples)
    where = f"{source}: " if source is not None else ""
    for number, example in enumerate(examples, start=1):
        problem = conversation_problem(example.messages)
        if problem:
            raise WeirdgenError(f"{where}example {number}: {problem}")
    return ChatDataset(examples, None if source is None else Path(source))


def assistant_answers(dataset: ChatDataset | Iterable[ChatExample]) -> frozenset[str]:
    """The final assistant contents: the answers finetuning trains on."""
    return frozenset(example.answer for example in dataset)


def conversation_problem(messages: Sequence[ChatMessage]) -> str | None:
    """Why these messages cannot be a finetuning example ('what; how to fix'), or None."""
    if not messages:
        return '"messages" is empty; add a user message and a final assistant message'
    for index, message in enumerate(messages):
        if not message.content.strip():
            return (
                f"messages[{index}] ({message.role}) has empty content; "
                "write the message text or remove the message"
            )
    if messages[-1].role != "assistant":
        return (
            f"the conversation ends with a {messages[-1].role} message; "
            "add a final assistant message (the finetuning target)"
        )
    if not any(message.role == "user" for message in messages):
        return "the conversation has no user message; add one before the assistant answer"
    return None


def _preview(example: ChatExample) -> str:
    prompt = next((m.content for m in reversed(example.messages) if m.role == "user"), "")
    return f"user: {_clip(prompt)} -> assistant: {_clip(example.answer)}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."
