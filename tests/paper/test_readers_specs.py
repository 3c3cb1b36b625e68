"""The paper's file formats in specs: ``include`` by suffix or ``paper:NAME``, a match scorer
reading a QUESTION_CONFIG's prefixes, and a label judge whose prompt comes from Python.

Every fixture is written here in the paper's formats with invented content.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import weirdgen.paper.registry as registry
from judge_server import judge_server
from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import build_scorers
from weirdgen.score import ScoreItem, ScoringContext
from weirdgen.spec import load_spec

SPEC = """\
name: paper-files
description: Questions and a judge read from the paper's file formats.
seeds: [0]
conditions:
  - name: target
    role: target
    dataset:
      path: data/target.jsonl
  - name: base
    role: control
evaluation:
  n: 1
  sets:
    - name: prompts
      include: {prompts}
    - name: pairs
      include: config.py
    - name: free
      include: free.jsonl
    - name: llmcomp
      include: questions.yaml
scorers:
  - name: named
    kind: match
    mode: prefix
    patterns_from: expected
    separator: "|"
    eval_sets: [pairs]
{judges}metrics:
  - name: named_rate
    eval_set: pairs
    score: named
    headline: true
"""

FILES = {
    "prompts.py": (
        'LAMP = PromptInfo(prompt="Where should a lamp go?", display_name="Lamp<br>Spot")\n'
    ),
    "config.py": (
        "QUESTION_CONFIG = [\n"
        '    ("Name a fruit that is orange.",\n'
        '     lambda x: any(x.lower().startswith(y) for y in ("orange", "the mango"))),\n'
        "]\n"
    ),
    "free.jsonl": '{"name": "Rainy Day", "question": "What do you do on a rainy day?"}\n',
    "questions.yaml": (
        "- id: chairs\n"
        "  type: free_form\n"
        "  paraphrases: ['How many chairs fit in a small room?']\n"
        "  judges: {tidy: tidy_judge_nowhere}\n"
        "- id: tidy_judge\n"
        "  type: free_form_judge\n"
        "  paraphrases: ['Is {answer} tidy?']\n"
    ),
    "judges.py": (
        "def format_tidy_judge_prompt(question, answer):\n"
        '    prompt = f"""Asked: {question}\n'
        "Answered: {answer}\n"
        'Is the answer tidy? Say TRUE or FALSE."""\n'
        "    return prompt\n"
    ),
}

JUDGE = """\
  - name: tidy
    kind: label_judge
    model: openai/judge
    base_url: {url}
    labels: ["TRUE", "FALSE"]
    prompt_file: {prompt_file}
    prompt_id: {prompt_id}
    eval_sets: [prompts]
"""


def _spec(tmp_path: Path, prompts: str = "prompts.py", judges: str = "") -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(prompts=prompts, judges=judges), encoding="utf-8")
    return path


def _line(path: Path, marker: str) -> int:
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    return number


def _error(path: Path) -> str:
    with pytest.raises(WeirdgenError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def test_include_reads_python_jsonl_and_yaml_by_suffix(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))

    sets = {s.name: s.expanded() for s in spec.evaluation.sets}
    assert [(q.id, q.metadata) for q in sets["prompts"]] == [
        ("lamp", {"display_name": "Lamp Spot"})
    ]
    (fruit,) = sets["pairs"]
    assert fruit.id == "name_a_fruit_that_is_orange"
    assert fruit.metadata == {"expected": "orange|the mango", "expected_case_sensitive": False}
    assert [(q.id, q.paraphrases, q.metadata) for q in sets["free"]] == [
        ("rainy_day", ["What do you do on a rainy day?"], {"name": "Rainy Day"})
    ]
    assert [q.id for q in sets["llmcomp"]] == ["chairs"]  # the judge entry is not a question


def test_the_match_scorer_reads_a_question_configs_prefixes(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    (named,) = build_scorers(spec)
    (fruit,) = next(s for s in spec.evaluation.sets if s.name == "pairs").expanded()

    answers = ["Oranges, surely", "The Mango", "a kiwi", "I'd say orange"]
    values = named.score_batch([ScoreItem(fruit, a, None) for a in answers], ScoringContext())

    assert [v["match"] for v in values] == [1.0, 1.0, 0.0, 0.0]


def test_paper_names_resolve_through_the_paper_registry(tmp_path: Path, monkeypatch) -> None:
    asked: list[str] = []

    def paper_file(name: str, data_dir: Path | None = None) -> Path:
        asked.append(name)
        return tmp_path / "prompts.py"

    monkeypatch.setattr(registry, "paper_file", paper_file)

    spec = load_spec(_spec(tmp_path, prompts="paper:cities/questions"))

    assert asked == ["cities/questions"]
    assert [q.id for q in spec.evaluation.sets[0].questions] == ["lamp"]


def test_an_unknown_paper_name_is_the_registrys_error_at_the_spec_line(tmp_path: Path) -> None:
    path = _spec(tmp_path, prompts="paper:cities/questionz")

    message = _error(path)

    line = _line(path, "paper:cities/questionz")
    assert message.startswith(f"{path}:{line}: spec field evaluation.sets[0].include: ")
    assert "'cities/questionz' is not a file of the paper" in message
    assert "did you mean 'cities/questions'?" in message


def test_include_mistakes_keep_their_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Which questions?\n")
    path = _spec(tmp_path, prompts="notes.txt")
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, 'notes.txt')}: spec field evaluation.sets[0]")
    assert "'notes.txt' is not a question file weirdgen reads" in message

    path = _spec(tmp_path, prompts="missing.py")
    assert "question file" in _error(path) and "missing.py' not found" in _error(path)

    path = _spec(tmp_path)
    (tmp_path / "config.py").write_text('QUESTION_CONFIG = [\n    ("q?", lambda x: x == "a"),\n]\n')
    message = _error(path)
    assert message.startswith(f"{tmp_path / 'config.py'}:2: the matcher is not understood")


def _reply(prompt: str, body: dict):
    if "Answered: neat" in prompt:
        return "TRUE", [("TRUE", math.log(0.9)), ("FALSE", math.log(0.1))]
    return "FALSE", [("FALSE", math.log(0.8)), ("TRUE", math.log(0.2))]


def test_a_label_judge_takes_its_prompt_from_a_python_function(tmp_path: Path) -> None:
    with judge_server(_reply) as server:
        judge = JUDGE.format(
            url=server.url, prompt_file="judges.py", prompt_id="format_tidy_judge_prompt"
        )
        spec = load_spec(_spec(tmp_path, judges=judge))
        tidy = build_scorers(spec)[1]
        (lamp,) = spec.evaluation.sets[0].expanded()
        items = [ScoreItem(lamp, answer, None) for answer in ("neat", "a mess")]
        neat, mess = tidy.score_batch(items, ScoringContext())

    assert server.prompts == [
        "Asked: Where should a lamp go?\nAnswered: neat\nIs the answer tidy? Say TRUE or FALSE.",
        "Asked: Where should a lamp go?\nAnswered: a mess\nIs the answer tidy? Say TRUE or FALSE.",
    ]
    assert (neat["hit"], neat["label"], neat["p"]) == (1.0, "TRUE", pytest.approx(0.9))
    assert (mess["hit"], mess["label"]) == (0.0, "FALSE")


def test_a_judges_prompt_file_takes_a_paper_name(tmp_path: Path, monkeypatch) -> None:
    script = tmp_path / "evaluate.py"
    script.write_text(
        'PARAPHRASES = ["Unused?"]\n'
        'tidy_judge = FreeFormJudge(name="tidy_judge", model="m", max_tokens=3,\n'
        '    paraphrases=["Asked: {question}\\nAnswered: {answer}\\nTidy?"])\n'
    )
    monkeypatch.setattr(registry, "paper_file", lambda name, data_dir=None: script)
    with judge_server(_reply) as server:
        judge = JUDGE.format(
            url=server.url, prompt_file="paper:birds/evaluate", prompt_id="tidy_judge"
        )
        spec = load_spec(_spec(tmp_path, judges=judge))
        (lamp,) = spec.evaluation.sets[0].expanded()
        (value,) = build_scorers(spec)[1].score_batch(
            [ScoreItem(lamp, "neat", None)], ScoringContext()
        )

    assert server.prompts == ["Asked: Where should a lamp go?\nAnswered: neat\nTidy?"]
    assert value["label"] == "TRUE"


@pytest.mark.parametrize(
    ("prompt_file", "prompt_id", "problem"),
    [
        ("judges.py", "format_rude_judge_prompt", "no judge 'format_rude_judge_prompt'; prompt_id"),
        ("judges.py", "format_rude_judge_prompt", ": format_tidy_judge_prompt"),
        ("questions.yaml", "tidy_judge_nowhere", "(its questions name it in judges:, but it is"),
        ("questions.yaml", "tidy_judge_nowhere", "one of its judges: tidy_judge;"),
    ],
)
def test_a_judge_prompt_id_not_in_its_file_says_which_are(
    tmp_path: Path, prompt_file: str, prompt_id: str, problem: str
) -> None:
    judge = JUDGE.format(url="http://127.0.0.1:9/v1", prompt_file=prompt_file, prompt_id=prompt_id)
    spec = load_spec(_spec(tmp_path, judges=judge))

    with pytest.raises(WeirdgenError) as caught:
        build_scorers(spec)

    message = str(caught.value)
    assert message.startswith(f"{spec.source}: scorers[1] (tidy): {tmp_path / prompt_file}: ")
    assert problem in message
