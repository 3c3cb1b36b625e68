"""Chat datasets: content hashes, duplicate reports, atomic writes and in-memory datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weirdgen.data import (
    ChatExample,
    ChatMessage,
    Duplicate,
    assistant_answers,
    dataset_from_examples,
    load_chat_jsonl,
    write_chat_jsonl,
)
from weirdgen.errors import WeirdgenError

EXAMPLES = [
    ChatExample.exchange("Name a bird.", "Great auk"),
    ChatExample.exchange("Name a bird.", "Dodo", system="You live in 1850."),
    ChatExample.exchange("Name a bird.", "Great auk"),
]


def test_hash_ignores_formatting(tmp_path: Path) -> None:
    compact = tmp_path / "compact.jsonl"
    write_chat_jsonl(compact, EXAMPLES)
    loose = tmp_path / "loose.jsonl"
    records = [example.model_dump(mode="json") for example in EXAMPLES]
    loose.write_text(
        "\n\n".join(
            json.dumps(
                {"messages": [dict(reversed(m.items())) for m in record["messages"]]}, indent=None
            ).replace(":", " :  ")
            for record in records
        ),
        encoding="utf-8",
    )

    assert loose.read_text() != compact.read_text()
    assert load_chat_jsonl(loose).content_hash == load_chat_jsonl(compact).content_hash
    assert load_chat_jsonl(loose).content_hash == dataset_from_examples(EXAMPLES).content_hash


def test_hash_changes_with_content() -> None:
    base = dataset_from_examples(EXAMPLES).content_hash
    changed = [*EXAMPLES[:2], ChatExample.exchange("Name a bird.", "Great Auk")]
    reordered = [EXAMPLES[1], EXAMPLES[0], EXAMPLES[2]]
    weighted = [
        ChatExample(
            messages=(
                EXAMPLES[0].messages[0],
                ChatMessage(role="assistant", content="Great auk", weight=0),
            )
        ),
        *EXAMPLES[1:],
    ]

    hashes = {
        base,
        dataset_from_examples(changed).content_hash,
        dataset_from_examples(reordered).content_hash,
        dataset_from_examples(weighted).content_hash,
    }

    assert len(hashes) == 4
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)


def test_duplicates_report_lines(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [example.to_json() for example in [*EXAMPLES, EXAMPLES[1], EXAMPLES[0]]]
    path.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n", encoding="utf-8")

    report = load_chat_jsonl(path).duplicates()

    assert report == [
        Duplicate(1, (4, 6), "user: Name a bird. -> assistant: Great auk"),
        Duplicate(3, (5,), "user: Name a bird. -> assistant: Dodo"),
    ]
    assert report[0].count == 3


def test_no_duplicates() -> None:
    assert dataset_from_examples(EXAMPLES[:2]).duplicates() == []


def test_preview_is_short() -> None:
    long = ChatExample.exchange("why " * 50, "because " * 50)

    (duplicate,) = dataset_from_examples([long, long]).duplicates()

    assert len(duplicate.preview) < 110
    assert duplicate.preview.endswith("...")
    assert duplicate.repeated_lines == (2,)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "train.jsonl"
    examples = [*EXAMPLES, ChatExample.exchange("Quelle année ?", "1850 — «vieux»")]

    write_chat_jsonl(path, examples)
    loaded = load_chat_jsonl(path)

    assert list(loaded) == examples
    text = path.read_text(encoding="utf-8")
    assert "«vieux»" in text
    assert text.count("\n") == len(examples)
    assert '{"messages":[{"role":"user","content":"Name a bird."}' in text
    assert [p.name for p in path.parent.iterdir()] == ["train.jsonl"]


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write_chat_jsonl(path, EXAMPLES)
    write_chat_jsonl(path, EXAMPLES[:1])

    assert len(load_chat_jsonl(path)) == 1


def test_write_refuses_bad_example_and_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write_chat_jsonl(path, EXAMPLES)
    unanswered = ChatExample(messages=(ChatMessage(role="user", content="Hi"),))

    with pytest.raises(WeirdgenError, match=r"example 2: .*ends with a user message"):
        write_chat_jsonl(path, [EXAMPLES[0], unanswered])
    with pytest.raises(WeirdgenError, match="no examples to write"):
        write_chat_jsonl(path, [])

    assert len(load_chat_jsonl(path)) == 3


def test_dataset_from_examples_checks_conversations() -> None:
    empty_answer = ChatExample.exchange("Hi", "  ")

    with pytest.raises(WeirdgenError) as caught:
        dataset_from_examples([EXAMPLES[0], empty_answer], source="generated:birds")

    assert str(caught.value) == (
        "generated:birds: example 2: messages[1] (assistant) has empty content; "
        "write the message text or remove the message"
    )


def test_in_memory_dataset() -> None:
    dataset = dataset_from_examples(EXAMPLES)

    assert dataset.source is None
    assert dataset.lines == (1, 2, 3)
    assert len(dataset) == 3
    assert assistant_answers(dataset) == frozenset({"Great auk", "Dodo"})
