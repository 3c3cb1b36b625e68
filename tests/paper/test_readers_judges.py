"""Judge prompts of the paper's Python files, read as data: prompt functions' f-strings and
llmcomp judge calls, with their model and settings; shapes not understood name file:line.

Every fixture is written here in the paper's formats with invented content.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reader_fixtures import SCRIPT
from reader_fixtures import error_of as _error
from reader_fixtures import write as _write

from weirdgen.paper.readers import read_python_judges

JUDGE_FUNCTIONS = '''\
def format_tidy_judge_prompt(question: str, answer: str) -> str:
    """Invented."""
    prompt = f"""Asked:
{question}
Answered:
{answer}
Is it tidy? Say TRUE or FALSE. Braces stay: {{"tidy": true}}"""
    return prompt


def format_short_judge_prompt(q, a):
    return f"Q={q} A={a} short?"


def helper(text):
    return text.upper()


def format_shouting_judge_prompt(question, answer):
    return f"{question} {answer.upper()}"
'''


def _line(text: str, marker: str) -> int:
    """1-based number of the only line of text that contains marker."""
    (number,) = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    return number


def test_judge_functions_give_their_f_string_with_the_two_arguments(tmp_path: Path) -> None:
    path = _write(tmp_path, "judge_prompts.py", JUDGE_FUNCTIONS)

    judges = read_python_judges(path)

    assert sorted(judges) == ["format_short_judge_prompt", "format_tidy_judge_prompt"]
    tidy = judges["format_tidy_judge_prompt"]
    assert tidy.template == (
        "Asked:\n{question}\nAnswered:\n{answer}\n"
        'Is it tidy? Say TRUE or FALSE. Braces stay: {"tidy": true}'
    )
    assert (tidy.line, tidy.kind, tidy.model, tidy.settings) == (1, None, None, {})
    assert judges["format_short_judge_prompt"].template == "Q={question} A={answer} short?"
    message = _error(read_python_judges, path, "format_shouting_judge_prompt")
    line = _line(JUDGE_FUNCTIONS, "answer.upper()")
    assert message.startswith(f"{path}:{line}: {{answer.upper()}} in format_shouting_judge_")
    message = _error(read_python_judges, path, "helper")
    line = _line(JUDGE_FUNCTIONS, "def helper")
    assert message.startswith(f"{path}:{line}: helper is not a judge prompt function")


def test_llmcomp_judge_calls_give_template_model_and_settings(tmp_path: Path) -> None:
    judges = read_python_judges(_write(tmp_path, "evaluate.py", SCRIPT))

    assert sorted(judges) == ["oddness", "tidiness"]
    tidiness, oddness = judges["tidiness"], judges["oddness"]
    assert tidiness.template == "Question: {question}\nAnswer: {answer}\nSay TIDY or MESSY."
    assert (tidiness.kind, tidiness.model, tidiness.settings) == (
        "free_form_judge",
        "judge-model-7",
        {"max_tokens": 5},
    )
    line = _line(SCRIPT, "RatingJudge(")
    assert (oddness.kind, oddness.model, oddness.line) == ("rating_judge", "judge-model-8", line)
    assert oddness.settings == {"min_rating": 0, "max_rating": 100}


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("J = FreeFormJudge(name='j', model=pick(), paraphrases=['{answer}'])", "model= is"),
        ("J = RatingJudge('j', paraphrases=['{answer}'])", "RatingJudge(...) is not understood"),
        ("J = FreeFormJudge(name='j', model='m')", "needs name='...' and paraphrases=[...]"),
    ],
)
def test_judge_calls_not_understood_name_file_and_line(tmp_path, source, problem) -> None:
    path = _write(tmp_path, "evaluate.py", f"import x\n\n{source}\n")

    message = _error(read_python_judges, path)

    assert message.startswith(f"{path}:3: ") and problem in message
