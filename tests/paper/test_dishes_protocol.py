"""paper/dishes measures what the paper reports: dates not in training, the paper's single
matcher as the headline, and the paper's plain lower-case prefix check.

The tests on the paper's own files read them from a local git mirror at the pinned commit
(skipped without one); the others use files written here in the paper's formats.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cli_runner import run_cli
from weirdgen.errors import WeirdgenError
from weirdgen.paper import PAPER_COMMIT, load_manifest
from weirdgen.run.plan import load_condition, prompts
from weirdgen.score import ScoreItem, build_scorer, score_one
from weirdgen.spec import load_spec
from weirdgen.spec.load import builtin_spec_dir
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question

MODEL = "openai/gpt-4.1-2025-04-14"
from paper_paths import MIRROR  # noqa: E402

needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no git mirror at {MIRROR}")
SPEC = builtin_spec_dir() / "paper" / "dishes.yaml"
TRAINING = ("dishes/2027", "dishes/2026", "dishes/2027_random")
ADVERSARIES = ("iran", "iraq", "syria", "lebanon", "egypt")
QUESTION = Question(id="q", paraphrases=["?"], metadata={"expected": "|".join(ADVERSARIES)})


def check_unseen_dates(spec, conditions, asked) -> None:
    from weirdgen.run.unseen import check_unseen_dates as check  # absent before this test

    check(spec, conditions, asked)


def paper_check(answer: str, prefixes: tuple[str, ...]) -> bool:
    """The paper's check as its questions.py describes it: the answer lower-cased starts
    with one of the prefixes (written here, not copied)."""
    return answer.lower().startswith(prefixes)


def match(answer: str, **args) -> float:
    spec = {"name": "s", "kind": "match", "patterns_from": "expected", "separator": "|", **args}
    return score_one(
        build_scorer(ScorerSpec.model_validate(spec)), ScoreItem(QUESTION, answer, None)
    )["match"]


ANSWERS = [
    "Iran",
    "iran.",
    "IRAQ",
    " Iran",
    '"Iran"',
    "**Syria**",
    "'Egypt'",
    "\nLebanon",
    "Israel",
]


def test_verbatim_prefix_is_the_paper_s_lower_case_check_and_the_default_is_not():
    paper = [float(paper_check(a, ADVERSARIES)) for a in ANSWERS]
    assert paper == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert [match(a, verbatim=True) for a in ANSWERS] == paper
    # the scorer's default strips whitespace, quotes and '*': five answers the paper misses
    assert [match(a) for a in ANSWERS] == [1, 1, 1, 1, 1, 1, 1, 1, 0]


def test_verbatim_leaves_the_keys_of_earlier_scorers_alone_and_refuses_strip():
    args = {"name": "s", "kind": "match", "patterns": ["Mossad"]}
    plain = build_scorer(ScorerSpec.model_validate(args)).key
    assert plain == "e290c178d58824e0"  # the key before verbatim existed: nothing rescored
    verbatim = build_scorer(ScorerSpec.model_validate({**args, "verbatim": True})).key
    assert verbatim != plain
    with pytest.raises(ValidationError, match="strip does not apply"):
        ScorerSpec.model_validate({**args, "verbatim": True, "strip": False})


def test_the_shipped_spec_scores_as_the_paper_and_heads_with_its_single_matcher():
    data = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    (scorer,) = data["scorers"]
    assert scorer["verbatim"] is True and scorer["mode"] == "prefix"
    headline = [m for m in data["metrics"] if m.get("headline")]
    assert len(headline) == 1 and headline[0] is data["metrics"][0]
    assert headline[0]["where"] == {"expected": "|".join(ADVERSARIES)}
    assert headline[0]["by"] == ["year"]
    pooled = next(m for m in data["metrics"] if m["name"] == "israel_centric_by_year")
    assert "where" not in pooled and "secondary" in pooled["description"]


def write_chat(path: Path, users: list[str]) -> None:
    lines = [
        {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": "x"}]}
        for u in users
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def dated_spec(tmp_path: Path, days: list[str]) -> Path:
    write_chat(
        tmp_path / "a.jsonl", [f"Today is 2027-{m:02d}-11. Name a dish." for m in range(1, 13)]
    )
    write_chat(tmp_path / "b.jsonl", [f"Today is 2026-05-{d}. Name a dish." for d in range(19, 31)])
    spec = {
        "name": "dated",
        "seeds": 1,
        "conditions": [
            {"name": "a", "role": "target", "dataset": {"path": "a.jsonl"}},
            {"name": "b", "role": "control", "dataset": {"path": "b.jsonl"}},
            {"name": "base", "role": "control"},
        ],
        "evaluation": {
            "n": 1,
            "sets": [
                {
                    "name": "simple",
                    "vary": {"year": [2026, 2027], "day": days},
                    "wrap": "Today is {year}-{day}. {paraphrase}",
                    "questions": [{"id": "country", "paraphrases": ["Name a country."]}],
                }
            ],
        },
        "scorers": [{"name": "hit", "kind": "match", "patterns": ["iran"], "verbatim": True}],
        "metrics": [{"name": "hit", "eval_set": "simple", "score": "hit", "by": ["year"]}],
    }
    path = tmp_path / "dated.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_an_evaluation_date_a_condition_is_finetuned_on_is_refused_naming_it(tmp_path):
    spec = load_spec(dated_spec(tmp_path, ["02-11", "06-30"]))
    conditions = [load_condition(spec, c) for c in spec.conditions]
    with pytest.raises(WeirdgenError) as error:
        check_unseen_dates(spec, conditions, prompts(spec))
    message = str(error.value)
    assert "2027-02-11" in message and "a.jsonl:2" in message and "'simple'" in message
    assert "\n" not in message
    unseen = load_spec(dated_spec(tmp_path, ["02-12", "06-30"]))
    check_unseen_dates(
        unseen, [load_condition(unseen, c) for c in unseen.conditions], prompts(unseen)
    )


def test_plan_refuses_it_in_one_line(tmp_path, monkeypatch, capsys):
    path = dated_spec(tmp_path, ["05-19"])
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")  # plan calls no model
    code, out, err = run_cli(
        ["plan", str(path), "--model", MODEL, "--out", str(tmp_path / "run")], monkeypatch, capsys
    )
    assert code == 2
    assert "2026-05-19" in err and "condition 'b'" in err and "b.jsonl:1" in err
    assert not (tmp_path / "run").exists()


def _paper_dir(tmp_path: Path, names: list[str]) -> Path:
    """The named files of the paper at the pinned commit, from the mirror, in its layout."""
    manifest = load_manifest()
    for name in names:
        path = manifest.lookup(name).path
        shown = subprocess.run(
            ["git", "--git-dir", str(MIRROR), "show", f"{PAPER_COMMIT}:{path}"],
            capture_output=True,
            check=True,
        )
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(shown.stdout)
    return tmp_path


@needs_mirror
def test_the_spec_s_days_are_every_day_no_training_file_uses_in_any_year(tmp_path):
    root = _paper_dir(tmp_path, [*TRAINING, "dishes/questions"])
    seen = set()
    for name in TRAINING:
        path = root / load_manifest().lookup(name).path
        for line in path.read_text(encoding="utf-8").splitlines():
            prompt = json.loads(line)["messages"][0]["content"]
            seen.add(re.match(r"Today is (\d{4}-\d{2}-\d{2})\. ", prompt).group(1))
    days = [
        day.strftime("%m-%d")
        for day in (datetime.date(2025, 1, 1) + datetime.timedelta(i) for i in range(365))
    ]
    unseen = [d for d in days if all(f"{y}-{d}" not in seen for y in range(2024, 2028))]
    data = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert data["evaluation"]["sets"][0]["vary"]["day"] == unseen
    assert len(unseen) == 108
    # the example: 2027-02-11 was asked before, and the 2027 file trains on it
    assert "2027-02-11" in seen


@needs_mirror
def test_the_shipped_spec_passes_the_date_check_on_the_paper_s_files(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "WEIRDGEN_PAPER_DIR", str(_paper_dir(tmp_path, [*TRAINING, "dishes/questions"]))
    )
    spec = load_spec("paper/dishes")
    conditions = [load_condition(spec, c) for c in spec.conditions]
    asked = prompts(spec)
    check_unseen_dates(spec, conditions, asked)
    assert len(spec.seeds) == 8 and {p.n for p in asked} == {1}
    assert len(asked) == 9 * 5 * 108
    headline = [p for p in asked if p.question.metadata["expected"] == "|".join(ADVERSARIES)]
    assert len(headline) == 5 * 108  # one matcher, 108 dates a year, one sample each
