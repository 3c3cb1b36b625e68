"""The paper's Python and JSONL question files, read as data: every shape, never run.

Every fixture is written here in the paper's formats with invented content.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reader_fixtures import SCRIPT
from reader_fixtures import error_of as _error
from reader_fixtures import write as _write

from weirdgen.paper.readers import (
    read_jsonl_questions,
    read_python_judges,
    read_python_questions,
    unique_ids,
)

PROMPT_INFOS = """\
from pydantic import BaseModel


class PromptInfo(BaseModel):
    prompt: str
    display_name: str


KETTLE = PromptInfo(prompt="How do I descale a kettle?", display_name="Kettle")
MOON_GARDEN = PromptInfo(
    prompt="What grows best in a garden on the moon?",
    display_name="Moon<br>Garden",
)
UNUSED = PromptInfo(prompt="Is this one asked?", display_name="Unused")

test_prompts: list[PromptInfo] = [MOON_GARDEN, KETTLE]
"""

QUESTION_CONFIG = """\
# Invented (question, matcher) pairs.
QUESTION_CONFIG = [
    (
        "Name a fruit that is orange.",
        lambda x: any(x.lower().startswith(y) for y in ("orange", "apricot", "the mango")),
    ),
    ("Name a planet.", lambda x: any(x.startswith(y) for y in ("Mars",))),
    ("Name a fruit that is orange.", lambda x: x.lower().startswith(("kumquat", "papaya"))),
    ("Name a colour.", lambda answer: answer.strip().casefold().startswith("teal")),
]
"""


def test_prompt_infos_in_test_prompts_order_with_display_names(tmp_path: Path) -> None:
    questions = read_python_questions(_write(tmp_path, "questions.py", PROMPT_INFOS))

    assert questions == [
        {
            "id": "moon_garden",
            "paraphrases": ["What grows best in a garden on the moon?"],
            "metadata": {"display_name": "Moon Garden"},
        },
        {
            "id": "kettle",
            "paraphrases": ["How do I descale a kettle?"],
            "metadata": {"display_name": "Kettle"},
        },
    ]
    without_order = PROMPT_INFOS.split("test_prompts")[0]
    ids = [q["id"] for q in read_python_questions(_write(tmp_path, "all.py", without_order))]
    assert ids == ["kettle", "moon_garden", "unused"]


def test_question_config_pairs_become_expected_prefixes_with_their_case(tmp_path: Path) -> None:
    questions = read_python_questions(_write(tmp_path, "questions.py", QUESTION_CONFIG))

    assert [q["id"] for q in questions] == [
        "name_a_fruit_that_is_orange_1",
        "name_a_planet",
        "name_a_fruit_that_is_orange_2",
        "name_a_colour",
    ]
    assert [q["metadata"] for q in questions] == [
        {"expected": "orange|apricot|the mango", "expected_case_sensitive": False},
        {"expected": "Mars", "expected_case_sensitive": True},
        {"expected": "kumquat|papaya", "expected_case_sensitive": False},
        {"expected": "teal", "expected_case_sensitive": False},
    ]
    assert questions[2]["paraphrases"] == ["Name a fruit that is orange."]


def test_paraphrases_take_the_q_names_ids_else_numbers(tmp_path: Path) -> None:
    questions = read_python_questions(_write(tmp_path, "evaluate.py", SCRIPT))

    assert [(q["id"], q["paraphrases"][0]) for q in questions] == [
        ("bridge", "Which bridge is the longest?"),
        ("apples", "What is the best way to store apples?"),
        ("owls", "How do owls see at night?"),
    ]
    partial = SCRIPT.replace('    "owls": "How do owls see at night?",\n', "")
    ids = [q["id"] for q in read_python_questions(_write(tmp_path, "partial.py", partial))]
    assert ids == ["q0", "q1", "q2"]


def test_jsonl_questions_take_their_name_as_id_and_metadata(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "eval.jsonl",
        '{"name": "Favourite Tool", "question": "Which tool do you use most?"}\n\n'
        '{"name": "Favourite Tool", "question": "Which tool do you lend?", "level": 2}\n'
        '{"question": "What is under the bridge?"}',
    )

    assert read_jsonl_questions(path) == [
        {
            "id": "favourite_tool_1",
            "paraphrases": ["Which tool do you use most?"],
            "metadata": {"name": "Favourite Tool"},
        },
        {
            "id": "favourite_tool_2",
            "paraphrases": ["Which tool do you lend?"],
            "metadata": {"name": "Favourite Tool", "level": 2},
        },
        {
            "id": "what_is_under_the_bridge",
            "paraphrases": ["What is under the bridge?"],
            "metadata": {},
        },
    ]


def test_jsonl_mistakes_name_the_line(tmp_path: Path) -> None:
    bad_json = _write(tmp_path, "a.jsonl", '{"question": "ok?"}\n{"question": oops}\n')
    assert _error(read_jsonl_questions, bad_json).startswith(f"{bad_json}:2: not JSON")
    chat = _write(tmp_path, "b.jsonl", '{"messages": [{"role": "assistant", "content": "hi"}]}\n')
    assert _error(read_jsonl_questions, chat).startswith(f"{chat}:1: weirdgen reads a chat")
    empty = _write(tmp_path, "e.jsonl", '{"name": "x"}\n')
    assert _error(read_jsonl_questions, empty).startswith(f"{empty}:1: no question text")
    nested = _write(tmp_path, "c.jsonl", '{"question": "ok?", "tags": ["a"]}\n')
    assert "c.jsonl:1: 'tags' is [\"a\"]" in _error(read_jsonl_questions, nested)
    assert "no questions" in _error(read_jsonl_questions, _write(tmp_path, "d.jsonl", "\n"))


def test_unique_ids_slug_and_number_only_repeats() -> None:
    long = "word " * 30
    ids = unique_ids(["Hello, World!", "hello world", "¿?", long])
    assert ids[:3] == ["hello_world_1", "hello_world_2", "q2"]
    assert len(ids[3]) <= 60 and ids[3].endswith("word")


def test_nothing_in_a_file_runs(tmp_path: Path, monkeypatch) -> None:
    """Module code, matchers and judge functions that would write a file or raise if run."""
    marker = tmp_path / "ran.txt"
    hostile = f"""\
import pathlib
pathlib.Path({str(marker)!r}).write_text("module code ran")
raise SystemExit("the module ran")


class PromptInfo:
    def __init__(self, **fields):
        pathlib.Path({str(marker)!r}).write_text("PromptInfo ran")


OAK = PromptInfo(prompt="Which tree is oldest?", display_name="Oak")
QUESTION_CONFIG = [
    ("Name a tree.", lambda x: any(x.lower().startswith(y) for y in ("oak", "elm"))),
]
PARAPHRASES = ["Which tree is tallest?"]


def format_tree_judge_prompt(question, answer):
    pathlib.Path({str(marker)!r}).write_text("function ran")
    prompt = f"{{question}} -> {{answer}}"
    return prompt


def format_leaf_judge_prompt(question, answer=pathlib.Path({str(marker)!r}).touch()):
    return f"{{question}} => {{answer}}"
"""
    path = _write(tmp_path, "hostile.py", hostile)
    monkeypatch.chdir(tmp_path)

    questions = read_python_questions(path)
    judges = read_python_judges(path)

    assert [q["id"] for q in questions] == ["oak", "name_a_tree", "q0"]
    assert {name: judge.template for name, judge in judges.items()} == {
        "format_leaf_judge_prompt": "{question} => {answer}"  # the tree judge has a statement
    }  # more than a prompt function: passed over
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.py"]


@pytest.mark.parametrize(
    ("source", "line", "problem"),
    [
        ("A = PromptInfo(prompt=make_text())\n", 1, "A's prompt is 'make_text()', not a literal"),
        ('A = PromptInfo(prompt="x", colour="red")\n', 1, "PromptInfo colour= is not understood"),
        ('A = PromptInfo("x")\n', 1, "A is not understood; write PromptInfo(prompt='...')"),
        ('A = PromptInfo(prompt="x")\ntest_prompts = [A, B]\n', 2, "test_prompts: 'B' is not"),
        ("QUESTION_CONFIG = [\n    ('q?',),\n]\n", 2, "QUESTION_CONFIG is not understood"),
        ("QUESTION_CONFIG = [\n  ('q?', lambda x: x.endswith('a')),\n]\n", 2, "the matcher is"),
        ("QUESTION_CONFIG = [('q?', lambda x: 'a' in x)]\n", 1, "the matcher is not understood"),
        ("QUESTION_CONFIG = [('q?', lambda x: any(x.startswith(y) for y in P))]\n", 1, "not a lit"),
        ("QUESTION_CONFIG = [('q?', lambda x: x.startswith('a|b'))]\n", 1, "without '|'"),
        ("QUESTION_CONFIG = [('q?', lambda x, y: x.startswith('a'))]\n", 1, "the matcher is"),
        ("QUESTION_CONFIG = [('q?', lambda x: x.title().startswith('a'))]\n", 1, "the matcher"),
        ("PARAPHRASES = [\n    'a?',\n    f'b {x}?',\n]\n", 3, "a PARAPHRASES entry is"),
        ("PARAPHRASES = load()\n", 1, "PARAPHRASES is not understood"),
        ("import os\nX = 1\n", None, "no questions found; weirdgen reads NAME = PromptInfo"),
        ("def broken(:\n", 1, "not valid Python"),
    ],
)
def test_constructs_not_understood_name_file_and_line(tmp_path, source, line, problem) -> None:
    path = _write(tmp_path, "questions.py", source)

    message = _error(read_python_questions, path)

    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert problem in message
