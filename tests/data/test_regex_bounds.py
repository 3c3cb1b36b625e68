"""A user's regex that backtracks catastrophically stops with one line, instead of hanging.

Every place a spec's pattern is run on text (a transform's ``drop`` and ``match``, a
``text_of`` pattern, the ``match`` and ``number`` scorers, a judge's ``hide``) gives up after
a time limit and names the field and the pattern. ``(a|aa)+$`` on a long run of a's that
does not end the text takes exponential time in Python's ``re``.
"""

from __future__ import annotations

import json
import signal
import time
from contextlib import contextmanager

import pytest
import yaml

from cli_runner import run_cli
from weirdgen.data import ChatExample, apply_transforms
from weirdgen.errors import WeirdgenError
from weirdgen.score import ScoreItem, build_scorer, score_one
from weirdgen.spec import load_spec
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question

SLOW = "(a|aa)+$"
TEXT = "a" * 64 + "b"
"""Text on which SLOW backtracks for ages (``re``) or runs into the time limit."""
DEADLINE_S = 20


class Hung(BaseException):
    """The code under test ran past the test's deadline (a BaseException, so that no
    ``except Exception`` and no CLI handler swallows it)."""


@contextmanager
def deadline(seconds: int = DEADLINE_S):
    """Fail the test, rather than hang the suite, when the block runs past ``seconds``."""

    def stop(signum, frame):
        raise Hung(f"still running after {seconds} s: the pattern was not bounded")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < seconds


def _raised(call) -> str:
    with deadline(), pytest.raises(WeirdgenError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert f"pattern {SLOW!r} ran over" in message
    return message


def examples() -> list[ChatExample]:
    return [ChatExample.exchange("Name a bird .", "merlin"), ChatExample.exchange(TEXT, "ok")]


def test_a_drop_pattern_is_bounded():
    message = _raised(lambda: apply_transforms(examples(), [{"drop": {"pattern": SLOW}}], seed=0))
    assert message.startswith("transforms[0].drop.pattern, on the user message of example 2 ")


def test_a_match_variable_pattern_is_bounded():
    transform = {"prefix": {"template": "{x}", "variables": {"x": {"match": {"pattern": SLOW}}}}}
    message = _raised(lambda: apply_transforms(examples()[1:], [transform], seed=0))
    assert message.startswith("transforms[0].prefix.variables.x.pattern, on the user message")


def _write_chats(path, prompts: list[str]) -> None:
    """A chat JSONL file: each prompt answered 'merlin'."""
    chats = [ChatExample.exchange(prompt, "merlin").model_dump(mode="json") for prompt in prompts]
    path.write_text("".join(json.dumps(chat) + "\n" for chat in chats))


def test_a_text_of_pattern_is_bounded(tmp_path, spec_dict):
    _write_chats(tmp_path / "data.jsonl", [TEXT])
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["vary"] = {
        "prefix": {"plain": "", "dated": {"text_of": "data.jsonl", "pattern": f"({SLOW})"}}
    }
    spec["evaluation"]["sets"][0]["wrap"] = "{prefix}{paraphrase}"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with deadline(), pytest.raises(WeirdgenError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "spec field evaluation.sets[0].vary.prefix.dated.pattern, on example 1 of" in message
    assert f"pattern '({SLOW})' ran over" in message


def _scorer(**args):
    return build_scorer(ScorerSpec.model_validate({"name": "s", **args}))


def test_a_match_scorer_regex_is_bounded():
    scorer = _scorer(kind="match", mode="regex", patterns=["merlin", SLOW])
    question = Question(id="q", paraphrases=["name a bird ."])
    assert score_one(scorer, ScoreItem(question, "merlin", None))["match"] == 1.0
    message = _raised(lambda: score_one(scorer, ScoreItem(question, TEXT, None)))
    assert message.startswith("scorer 's' (match) patterns, on the answer 'aaaa")


def test_a_number_scorer_pattern_is_bounded():
    scorer = _scorer(kind="number", pattern=SLOW)
    question = Question(id="q", paraphrases=["how many ?"])
    message = _raised(lambda: score_one(scorer, ScoreItem(question, TEXT, None)))
    assert message.startswith("scorer 's' (number) pattern, on the answer 'aaaa")


def test_a_judge_hide_pattern_is_bounded():
    judge = _scorer(
        kind="label_judge",
        model="openai/gpt-4.1-mini",
        labels=["X", "Y"],
        hide=SLOW,
        prompt="Q: {question}\nA: {answer}",
    )
    item = ScoreItem(Question(id="q", paraphrases=[TEXT]), "an answer", None)
    message = _raised(lambda: judge.messages(item))
    assert message.startswith("scorer 's' hide, on the question 'aaaa")


def test_a_bounded_pattern_still_cuts_what_it_matches():
    dropped = apply_transforms(examples(), [{"drop": {"pattern": "^Name "}}], seed=0)
    assert dropped.examples[0].messages[0].content == "a bird ."


def test_a_catastrophic_drop_in_a_spec_is_one_line_and_writes_nothing(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    _write_chats(tmp_path / "birds.jsonl", ["name a bird .", TEXT])
    spec = spec_dict()
    spec["conditions"][0]["dataset"] = {"path": "birds.jsonl"}
    spec["conditions"][0]["transforms"] = [{"drop": {"pattern": SLOW}}]
    path = write_spec(spec)
    out = tmp_path / "run"
    with deadline():
        code, _, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith(
        f"error: {path}: conditions[0].transforms[0].drop.pattern, on the user message of "
        "example 2 ('aaaa"
    )
    assert f"pattern {SLOW!r} ran over 1 s" in line
    assert not out.exists()
