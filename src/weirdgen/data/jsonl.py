"""Read and write chat JSONL, the OpenAI finetuning format: one {"messages": [...]} per line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from weirdgen._atomic import atomic_path
from weirdgen._files import read_regular_file
from weirdgen.data.chat import (
    ROLES,
    ChatDataset,
    ChatExample,
    ChatMessage,
    conversation_problem,
)
from weirdgen.errors import WeirdgenError

_LINE_SHAPE = (
    '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}'
)


MAX_FILE_BYTES = 1 << 30
"""Largest chat JSONL file read (1 GiB; OpenAI's fine-tuning files stop at 512 MB)."""
MAX_LINE_CHARS = 4_000_000
"""Longest line, i.e. one example (about a million tokens; a long-context chat is far less)."""


class ChatLineProblem(Exception):
    """What is wrong with one line of chat JSONL and how to fix it; the caller adds where."""


def load_chat_jsonl(path: str | Path) -> ChatDataset:
    """Read and check a chat JSONL file.

    Every line must be a conversation that can be finetuned on: known roles, non-empty text,
    at least one user message, and a final assistant message. Blank lines are skipped.

    Raises:
        WeirdgenError: ``path:LINE: what is wrong; how to fix`` for the first bad line.
    """
    path = Path(path)
    raw = read_regular_file(
        path, MAX_FILE_BYTES, "chat JSONL file", "split it or take a sample of it"
    )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise WeirdgenError(
            f"{path}:{line}: not valid UTF-8 ({error.reason}); save the file as UTF-8"
        ) from error
    text = text.removeprefix("\ufeff")

    examples: list[ChatExample] = []
    lines: list[int] = []
    # Split on "\n" only: JSON strings may hold U+2028 and friends, which splitlines() breaks on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise WeirdgenError(
                f"{path}:{number}: the line is {len(line):,} characters, over the "
                f"{MAX_LINE_CHARS:,} one example may have; shorten the example or split it"
            )
        try:
            examples.append(parse_chat_line(line))
        except ChatLineProblem as problem:
            raise WeirdgenError(f"{path}:{number}: {problem}") from None
        lines.append(number)
    if not examples:
        raise WeirdgenError(
            f"{path}: no examples, the file is empty; write one {_LINE_SHAPE} per line"
        )
    return ChatDataset(tuple(examples), path, tuple(lines))


def write_chat_jsonl(path: str | Path, examples: Iterable[ChatExample]) -> None:
    """Write examples as UTF-8 chat JSONL, one compact object per line, atomically.

    The file is written next to its destination and moved into place, so readers never see a
    half-written dataset. Missing parent folders are created.
    """
    path = Path(path)
    examples = list(examples)
    if not examples:
        raise WeirdgenError(f"{path}: no examples to write; pass at least one example")
    for number, example in enumerate(examples, start=1):
        problem = conversation_problem(example.messages)
        if problem:
            raise WeirdgenError(f"{path}: cannot write example {number}: {problem}")
    text = "".join(example.to_json() + "\n" for example in examples)
    try:
        with atomic_path(path) as temporary:
            with temporary.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        raise WeirdgenError(
            f"{path}: cannot write chat JSONL ({error.strerror or error}); "
            "check that the folder is writable"
        ) from error


def parse_chat_line(line: str) -> ChatExample:
    """One line of chat JSONL as an example, checked as :func:`load_chat_jsonl` checks each
    line (for readers that go a line at a time, such as ``weirdgen serve``'s uploads).

    Raises:
        ChatLineProblem: what is wrong with the line and how to fix it (no place: the caller
            knows the file and line).
    """
    try:
        record = json.loads(line)
    except RecursionError:
        raise ChatLineProblem(
            f"the JSON is nested too deeply to read; write one flat {_LINE_SHAPE} per line"
        ) from None
    except json.JSONDecodeError as error:
        raise ChatLineProblem(
            f"invalid JSON ({error.msg} at column {error.colno}); "
            "write each example as one complete JSON object on its own line"
        ) from None
    if not isinstance(record, dict):
        raise ChatLineProblem(
            f"expected a JSON object, got {_kind(record)}; write each line as {_LINE_SHAPE}"
        )
    if "messages" not in record:
        found = ", ".join(map(json.dumps, list(record)[:5])) or "none"
        raise ChatLineProblem(
            f'missing "messages" (keys found: {found}); write each line as {_LINE_SHAPE}'
        )
    turns = record["messages"]
    if not isinstance(turns, list):
        raise ChatLineProblem(
            f'"messages" must be an array of message objects, got {_kind(turns)}; '
            f"write each line as {_LINE_SHAPE}"
        )
    if "\\u" in line:  # escapes are the one way a lone UTF-16 surrogate gets in
        _check_encodable(record)
    messages = tuple(_parse_message(index, turn) for index, turn in enumerate(turns))
    problem = conversation_problem(messages)
    if problem:
        raise ChatLineProblem(problem)
    return ChatExample.model_validate({**record, "messages": messages})


def _check_encodable(record: dict) -> None:
    """A lone surrogate (``\\ud800`` with no partner) is valid JSON but no character: it
    cannot be written as UTF-8 or sent to any model, so it is refused here, by place."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end]
        shown = "".join(f"\\u{ord(c):04x}" for c in bad)
        raise ChatLineProblem(
            f"the text holds a lone surrogate {shown}, half of a UTF-16 pair and not a "
            "character; remove it, or write the character it was meant to be"
        ) from None


def _parse_message(index: int, turn: object) -> ChatMessage:
    where = f"messages[{index}]"
    if not isinstance(turn, dict):
        raise ChatLineProblem(
            f"{where} is {_kind(turn)}, not an object; write each message as "
            '{"role": "user", "content": "..."}'
        )
    allowed = ", ".join(ROLES)
    if "role" not in turn:
        raise ChatLineProblem(f'{where} has no "role"; add "role": one of {allowed}')
    role = turn["role"]
    if role not in ROLES:
        shown = json.dumps(role, ensure_ascii=False)
        raise ChatLineProblem(f"{where} has unknown role {shown}; allowed roles: {allowed}")
    if "content" not in turn:
        raise ChatLineProblem(
            f'{where} ({role}) has no "content"; add the message text as "content"'
        )
    if not isinstance(turn["content"], str):
        raise ChatLineProblem(
            f"{where} ({role}) content must be a string, got {_kind(turn['content'])}; "
            "write the message text as one JSON string"
        )
    return ChatMessage.model_validate(turn)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
