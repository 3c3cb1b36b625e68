"""Loading chat JSONL: every malformed line gives one error line naming path:LINE and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weirdgen.data import load_chat_jsonl
from weirdgen.errors import WeirdgenError

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
)


def _error(path: Path) -> str:
    with pytest.raises(WeirdgenError) as caught:
        load_chat_jsonl(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(messages: list[object]) -> str:
    return json.dumps({"messages": messages})


USER = {"role": "user", "content": "Name a bird."}
ANSWER = {"role": "assistant", "content": "Great auk"}

BAD_LINES = [
    pytest.param('{"messages": [', ["invalid JSON", "column"], id="invalid-json"),
    pytest.param("[1, 2]", ["expected a JSON object", "an array"], id="not-object"),
    pytest.param(
        '{"prompt": "a", "completion": "b"}', ['missing "messages"', '"prompt"'], id="no-messages"
    ),
    pytest.param(
        '{"messages": "hi"}', ['"messages" must be an array', "a string"], id="messages-not-list"
    ),
    pytest.param(
        '{"messages": []}', ['"messages" is empty', "add a user message"], id="messages-empty"
    ),
    pytest.param(
        _line([USER, "hi"]), ["messages[1] is a string, not an object"], id="message-not-object"
    ),
    pytest.param(
        _line([{"role": "bot", "content": "x"}, ANSWER]),
        ['unknown role "bot"', "allowed roles: system, user, assistant"],
        id="unknown-role",
    ),
    pytest.param(
        _line([{"content": "x"}, ANSWER]), ['messages[0] has no "role"'], id="missing-role"
    ),
    pytest.param(
        _line([USER, {"role": "assistant"}]),
        ['messages[1] (assistant) has no "content"'],
        id="missing-content",
    ),
    pytest.param(
        _line([USER, {"role": "assistant", "content": 5}]),
        ["messages[1] (assistant) content must be a string", "a number"],
        id="content-not-string",
    ),
    pytest.param(
        _line([USER, {"role": "assistant", "content": " \t"}]),
        ["messages[1] (assistant) has empty content"],
        id="content-blank",
    ),
    pytest.param(
        _line([ANSWER, USER]),
        ["ends with a user message", "add a final assistant message"],
        id="no-final-assistant",
    ),
    pytest.param(
        _line([{"role": "system", "content": "Be brief."}, ANSWER]),
        ["no user message"],
        id="no-user",
    ),
]


@pytest.mark.parametrize(("bad", "words"), BAD_LINES)
def test_bad_line_names_path_line_and_problem(tmp_path: Path, bad: str, words: list[str]) -> None:
    path = _write(tmp_path, GOOD, "", GOOD, bad, GOOD)

    message = _error(path)

    assert message.startswith(f"{path}:4: ")
    for word in words:
        assert word in message
    assert ";" in message  # what is wrong; how to fix it


def test_extra_keys_are_kept(tmp_path: Path) -> None:
    line = {
        "messages": [USER, {**ANSWER, "weight": 1}],
        "metadata": {"split": "train"},
    }
    path = _write(tmp_path, json.dumps(line))

    dataset = load_chat_jsonl(path)

    assert dataset[0].model_dump(mode="json") == line


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, "", GOOD, "   ", GOOD)

    dataset = load_chat_jsonl(path)

    assert len(dataset) == 2
    assert dataset.lines == (2, 4)
    assert dataset.source == path


def test_crlf_bom_and_unicode_separators(tmp_path: Path) -> None:
    odd = json.dumps(
        {"messages": [USER, {"role": "assistant", "content": "a\u2028b é"}]}, ensure_ascii=False
    )
    path = tmp_path / "windows.jsonl"
    path.write_bytes(("\ufeff" + GOOD + "\r\n" + odd + "\r\n").encode("utf-8"))

    dataset = load_chat_jsonl(path)

    assert [example.answer for example in dataset] == ["Hello", "a\u2028b é"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"

    message = _error(path)

    assert message.startswith(f"{path}: cannot read")
    assert "No such file" in message


def test_directory_is_not_a_dataset(tmp_path: Path) -> None:
    assert _error(tmp_path).startswith(f"{tmp_path} is a folder, not a chat JSONL file")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(text, encoding="utf-8")

    message = _error(path)

    assert message.startswith(f"{path}: no examples")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + '{"messages": "é"}'.encode("latin-1") + b"\n")

    message = _error(path)

    assert message.startswith(f"{path}:2: not valid UTF-8")
