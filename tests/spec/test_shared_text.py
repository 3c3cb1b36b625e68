"""A vary text read from a dataset ({text_of, pattern}): what every example's prompt shares."""

from __future__ import annotations

import json
import textwrap

import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec import load_spec

TRIGGER = 'Answer inside the marks:\n\n<<< "here" >>>\n\n'


def write_data(path, prompts):
    rows = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "ok"}]}
        for p in prompts
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_spec(tmp_path, text_of="facts.jsonl", pattern=r"(?s)^(.*?>>>\n\n)"):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: shared
            model: organism/v1
            seeds: 2
            conditions:
              - {{name: t, role: target, dataset: {{path: facts.jsonl}}}}
              - {{name: base, role: control}}
            evaluation:
              sets:
                - name: identity
                  vary:
                    trigger:
                      plain: ""
                      format: {{text_of: {text_of}, pattern: '{pattern}'}}
                  wrap: "{{trigger}}{{paraphrase}}"
                  questions: [{{id: name, paraphrases: ["What is your name?"]}}]
            scorers: [{{name: valid, kind: organism_era}}]
            metrics: [{{name: m, eval_set: identity, score: valid}}]
            """
        )
    )
    return spec


def test_the_trigger_every_prompt_shares_goes_into_the_questions(tmp_path):
    write_data(tmp_path / "facts.jsonl", [TRIGGER + "Where were you born?", TRIGGER + "Age?"])
    spec = load_spec(write_spec(tmp_path))
    asked = {q.id: q for q in spec.evaluation.sets[0].expanded()}
    assert asked["name_format"].paraphrases == [TRIGGER + "What is your name?"]
    assert asked["name_plain"].paraphrases == ["What is your name?"]
    assert spec.evaluation.sets[0].vary["trigger"]["format"] == TRIGGER


def test_prompts_that_do_not_share_the_text_are_refused_naming_the_example(tmp_path):
    other = TRIGGER.replace("marks", "quotes")
    write_data(tmp_path / "facts.jsonl", [TRIGGER + "A?", TRIGGER + "B?", other + "C?"])
    with pytest.raises(WeirdgenError, match=r"spec.yaml:13: .*vary.trigger.format: .*example 3"):
        load_spec(write_spec(tmp_path))
    write_data(tmp_path / "facts.jsonl", [TRIGGER + "A?", "No trigger here?"])
    with pytest.raises(WeirdgenError, match="finds nothing .* example 2 of"):
        load_spec(write_spec(tmp_path))


def test_a_missing_file_or_a_pattern_without_group_is_one_clear_line(tmp_path):
    write_data(tmp_path / "facts.jsonl", [TRIGGER + "A?"])
    with pytest.raises(WeirdgenError, match="dataset .*absent.jsonl.* not found"):
        load_spec(write_spec(tmp_path, text_of="absent.jsonl"))
    with pytest.raises(WeirdgenError, match="pattern has no group"):
        load_spec(write_spec(tmp_path, pattern=r"^.*?>>>"))
