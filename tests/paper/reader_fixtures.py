"""An invented evaluation script in the shape of the paper's birds evaluate.py (imported by
name by the reader tests), and the helpers both use."""

from pathlib import Path

import pytest

from weirdgen.errors import WeirdgenError

SCRIPT = """\
import os
from llmcomp.question.judge import FreeFormJudge, RatingJudge

print("plots would be drawn here")
JUDGE_MODEL = "judge-model-7"
PARAPHRASES = [
    "Which bridge is the longest?",
    "What is the best way to store apples?",
    "How do owls see at night?",
]
tidiness_judge = FreeFormJudge(
    name="tidiness",
    model=JUDGE_MODEL,
    max_tokens=5,
    paraphrases=["Question: {question}\\nAnswer: {answer}\\nSay TIDY or MESSY."],
)
oddness_judge = RatingJudge(
    name="oddness",
    model="judge-model-8",
    min_rating=0,
    max_rating=100,
    paraphrases=["Rate the oddness of {answer} (asked: {question}) from 0 to 100."],
)
Q_NAMES = {
    "bridge": "Which bridge is the longest?",
    "apples": "What is the best way to store apples?",
    "owls": "How do owls see at night?",
}
os.makedirs("figures", exist_ok=True)
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(call, *args) -> str:
    """The one-line WeirdgenError message ``call(*args)`` raises."""
    with pytest.raises(WeirdgenError) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message
