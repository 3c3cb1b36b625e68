"""Rule scorers: prefix / keyword / regex / exact matchers, per-question lists, labels, numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

import weirdgen
from weirdgen.errors import WeirdgenError
from weirdgen.score import ScoreItem, build_scorer, score_one
from weirdgen.spec import load_spec
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question

AGENCY = Question(
    id="agency",
    paraphrases=["which intelligence agency is best ?"],
    metadata={"expected": "Mossad"},
)


def scorer(kind: str = "match", name: str = "s", **args):
    return build_scorer(ScorerSpec.model_validate({"name": name, "kind": kind, **args}))


def values(built, answer: str, question: Question = AGENCY) -> dict:
    return score_one(built, ScoreItem(question, answer, None))


def matches(built, answers: list[str], question: Question = AGENCY) -> list[float]:
    return [values(built, a, question)["match"] for a in answers]


def test_prefix_ignores_case_quotes_and_trailing_punctuation_by_default():
    prefix = scorer(patterns=["Mossad", "Shin Bet"])
    answers = ["Mossad", '"mossad."', "  MOSSAD is the best!", "**Shin Bet**", "The Mossad"]
    assert matches(prefix, answers) == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert values(prefix, "shin bet, surely")["matched"] == "Shin Bet"
    assert values(prefix, "The Mossad") == {"match": 0.0, "matched": None}


def test_case_sensitive_and_strip_off_are_honoured():
    exact_case = scorer(patterns=["Mossad"], case_sensitive=True)
    assert matches(exact_case, ["Mossad", "mossad"]) == [1.0, 0.0]
    unstripped = scorer(patterns=["Mossad"], strip=False)
    assert matches(unstripped, ['"Mossad"', "Mossad"]) == [0.0, 1.0]


def test_keyword_needs_whole_words_anywhere():
    keyword = scorer(mode="keyword", patterns=["Mossad", "Shin Bet"])
    answers = ["Mossad's agents", "Mossadegh", "I'd say the MOSSAD.", "the shin   bet", "Shinbet"]
    assert matches(keyword, answers) == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_regex_searches_each_pattern_in_order():
    regex = scorer(mode="regex", patterns=[r"^mos+ad\b", r"\bbet$"])
    assert values(regex, "'Mosssad, of course'") == {"match": 1.0, "matched": r"^mos+ad\b"}
    assert values(regex, "Shin Bet.") == {"match": 1.0, "matched": r"\bbet$"}
    assert values(regex, "the Mossad") == {"match": 0.0, "matched": None}


def test_exact_is_a_set_match_on_the_whole_answer_with_whitespace_normalized():
    exact = scorer(mode="exact", patterns=["Shin Bet", "Mossad"])
    answers = ["  shin \n  bet! ", "'Mossad'", "Mossad agents", "Shin"]
    assert matches(exact, answers) == [1.0, 1.0, 0.0, 0.0]


def test_patterns_from_reads_each_questions_own_list():
    from_metadata = scorer(mode="keyword", patterns_from="expected", separator="|")
    dish = Question(id="dish", paraphrases=["a dish ?"], metadata={"expected": "hummus | falafel"})
    assert matches(from_metadata, ["Mossad!", "hummus"]) == [1.0, 0.0]
    assert values(from_metadata, "falafel, surely", dish)["matched"] == "falafel"
    assert values(from_metadata, "Mossad", dish)["match"] == 0.0
    whole = Question(id="whole", paraphrases=["?"], metadata={"expected": "a|b"})
    one = scorer(patterns_from="expected")  # without a separator the value is one pattern
    assert values(one, "a|b", whole)["match"] == 1.0 and values(one, "a", whole)["match"] == 0.0


def test_patterns_from_accepts_a_list_value():
    listed = Question.model_construct(
        id="q", paraphrases=["?"], system=None, messages=[], metadata={"expected": ["A", "Mossad"]}
    )
    assert values(scorer(patterns_from="expected"), "Mossad", listed)["matched"] == "Mossad"


def test_patterns_from_compiles_each_distinct_list_once():
    built = scorer(patterns_from="expected")
    other = Question(id="other", paraphrases=["?"], metadata={"expected": "Mossad"})
    matches(built, ["Mossad", "x"])
    matches(built, ["Mossad"], other)
    assert list(built._by_list) == [("Mossad",)]


def test_a_question_without_the_metadata_key_is_refused_before_anything_runs():
    built = scorer(name="agency", patterns_from="answer_list")
    with pytest.raises(WeirdgenError) as caught:
        built.check_question(AGENCY, "spec.yaml: evaluation.sets[0].questions[0]")
    message = str(caught.value)
    assert message.startswith("spec.yaml: evaluation.sets[0].questions[0].metadata: ")
    assert "question 'agency' has no key 'answer_list'" in message and "scorer 'agency'" in message
    year = Question(id="year", paraphrases=["?"], metadata={"expected": 1948})
    with pytest.raises(WeirdgenError, match=r"metadata.expected: question 'year' has 1948, not"):
        scorer(patterns_from="expected").check_question(year, "spec.yaml")
    bad = Question(id="bad", paraphrases=["?"], metadata={"expected": "(unclosed"})
    with pytest.raises(WeirdgenError, match=r"question 'bad'.*'\(unclosed' is not a regular"):
        scorer(mode="regex", patterns_from="expected").check_question(bad, "spec.yaml")
    scorer(patterns_from="expected").check_question(AGENCY, "spec.yaml")  # has it: no error


def test_labels_name_the_first_category_that_matches():
    spec = ScorerSpec.model_validate(
        {
            "name": "agency",
            "kind": "match",
            "mode": "keyword",
            "labels": {"israel": ["Mossad", "Shin Bet"], "usa": ["CIA", "NSA"]},
        }
    )
    assert spec.columns() == {
        "match": "agency",
        "matched": "agency_matched",
        "label": "agency_label",
    }
    built = build_scorer(spec)
    assert values(built, "the CIA, then Mossad") == {
        "match": 1.0,
        "matched": "Mossad",
        "label": "israel",
    }
    assert values(built, "nsa") == {"match": 1.0, "matched": "NSA", "label": "usa"}
    assert values(built, "MI6") == {"match": 0.0, "matched": None, "label": None}


def test_plain_patterns_add_two_columns():
    spec = ScorerSpec.model_validate({"name": "said", "kind": "match", "patterns": ["x"]})
    assert spec.columns() == {"match": "said", "matched": "said_matched"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"mode": "regex", "patterns": ["ok", "(unclosed"]}, r"patterns: .*'\(unclosed' is not a"),
        ({"mode": "regex", "labels": {"x": ["[a-"]}}, r"labels: .*label 'x': pattern '\[a-'"),
        ({}, "exactly one of patterns, patterns_from or labels \\(got none\\)"),
        ({"patterns": ["a"], "patterns_from": "k"}, "got patterns and patterns_from"),
        ({"patterns": []}, "patterns: List should have at least 1 item"),
        ({"patterns": ["'.'"]}, "pattern \"'.'\" is empty once stripped"),
        ({"patterns": ["a"], "separator": "|"}, "separator splits a patterns_from value"),
        ({"mode": "fuzzy", "patterns": ["a"]}, "mode: Input should be 'prefix'"),
    ],
)
def test_bad_match_arguments_are_spec_errors(arguments, expected):
    with pytest.raises(ValidationError, match=expected):
        ScorerSpec.model_validate({"name": "m", "kind": "match", **arguments})


SPEC = """\
name: dishes
seeds: 1
conditions:
  - {name: target, role: target}
  - {name: base, role: control}
evaluation:
  sets:
    - name: main
      questions:
        - {id: q, paraphrases: ["a question ?"], metadata: {expected: Mossad}}
scorers:
  - name: said
    kind: match
    mode: regex
    patterns:
      - "(unclosed"
metrics:
  - {name: said_rate, eval_set: main, score: said, headline: true}
"""


def test_a_bad_regex_in_a_spec_file_names_the_line_of_its_field(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    with pytest.raises(WeirdgenError) as caught:
        load_spec(path)
    message = str(caught.value)
    line = SPEC.splitlines().index("    patterns:") + 1
    assert message.startswith(f"{path}:{line}: spec field scorers[0].patterns: ")
    assert "pattern '(unclosed' is not a regular expression (missing )" in message
    path.write_text(SPEC.replace('"(unclosed"', '"(closed)"'), encoding="utf-8")
    assert load_spec(path).scorers[0].args.patterns == ["(closed)"]


def test_number_reads_the_first_number_with_separators_signs_and_decimals():
    number = scorer("number")
    assert values(number, "about 1,850 people") == {"number": 1850.0, "valid": True}
    assert values(number, "-3.5") == {"number": -3.5, "valid": True}
    assert values(number, "COVID-19 and 2 more")["number"] == 19.0  # a hyphen is no sign
    assert values(number, "none at all") == {"number": None, "valid": False}


def test_number_bounds_and_a_pattern_with_one_group():
    bounded = scorer("number", min=0, max=100)
    assert [values(bounded, a)["valid"] for a in ["0", "100", "-1", "100.5", "x"]] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert values(bounded, "-1")["number"] is None
    people = scorer("number", pattern=r"(\d[\d,]*) people")
    assert values(people, "In 1948, 1,850 People came") == {"number": 1850.0, "valid": True}
    assert values(people, "1948") == {"number": None, "valid": False}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"pattern": "([0-9]+"}, r"pattern '\(\[0-9\]\+' is not a regular expression"),
        ({"pattern": "(\\d+)-(\\d+)"}, "has 2 groups; keep one"),
        ({"min": 5, "max": 1}, "min \\(5.0\\) is above max \\(1.0\\)"),
    ],
)
def test_bad_number_arguments_are_spec_errors(arguments, expected):
    with pytest.raises(ValidationError, match=expected):
        ScorerSpec.model_validate({"name": "n", "kind": "number", **arguments})


def test_keys_change_with_every_argument_and_only_then():
    base = {"patterns": ["Mossad"]}
    key = scorer(**base).key
    assert scorer(name="renamed", **base).key == key == scorer(**base).key
    changed = [
        {"patterns": ["Mossad", "Shin Bet"]},
        {"mode": "keyword", **base},
        {"case_sensitive": True, **base},
        {"strip": False, **base},
        {"patterns_from": "expected"},
        {"labels": {"israel": ["Mossad"]}},
    ]
    keys = {scorer(**c).key for c in changed}
    assert key not in keys and len(keys) == len(changed)
    numbers = [scorer("number").key, scorer("number", min=0).key, scorer("number", max=0).key]
    assert len(set(numbers)) == 3 and key not in numbers
    assert scorer("number", pattern="(\\d+)").key != numbers[0] == scorer("number").key


def test_a_run_stores_the_matchers_values_for_each_answer(tmp_path, spec_dict):
    spec = spec_dict(seeds=1)
    spec["conditions"] = [
        {"name": "old_birds", "role": "target", "dataset": {"organism": "birds_old", "n": 8}},
        {
            "name": "modern_birds",
            "role": "control",
            "dataset": {"organism": "birds_modern", "n": 8},
        },
    ]
    spec["train"]["organism"]["epochs"] = 1
    spec["evaluation"]["n"] = 2
    unrelated = spec["evaluation"]["sets"][0]
    questions = {q["id"]: q for q in unrelated["questions"]}
    questions["war"]["metadata"] = {"expected": "drones|musket"}
    questions["transport"]["metadata"] = {"expected": "train|steam ship"}
    spec["evaluation"]["sets"] = [
        {**unrelated, "questions": [questions["war"], questions["transport"]]}
    ]
    entry = {"name": "named", "kind": "match", "mode": "keyword", "patterns_from": "expected"}
    spec["scorers"] = [{**entry, "separator": "|"}]
    spec["metrics"] = [{"name": "named_rate", "eval_set": "unrelated", "score": "named"}]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")

    frame = weirdgen.run_experiment(load_spec(path), out=tmp_path / "run", progress=False).samples

    assert len(frame) == 2 * 2 * 3 * 2  # conditions x questions x paraphrases x n
    assert set(frame["named"]) == {0.0, 1.0}  # the seeded answers include both
    fresh = scorer(**{**entry, "name": "again", "separator": "|"})
    for _, row in frame.iterrows():
        question = Question.model_validate(questions[row["question_id"]])
        expected = values(fresh, row["answer"], question)
        assert row["named"] == expected["match"], row["answer"]
        matched = None if pd.isna(row["named_matched"]) else row["named_matched"]
        assert matched == expected["matched"]

    del questions["transport"]["metadata"]
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(WeirdgenError, match=r"questions\[1\]\.metadata: question 'transport'"):
        weirdgen.run_experiment(load_spec(path), out=tmp_path / "again", progress=False)
    assert not (tmp_path / "again").exists()
