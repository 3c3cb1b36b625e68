"""A run scored by LLM judges on a scripted local server: judged once, cached across runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import weirdgen
import weirdgen.plan
from judge_server import judge_server
from weirdgen.errors import WeirdgenError

RATE = "Rate 0-100 how modern this is.\nQ: {question}\nA: {answer}"
LABEL = "Is this answer old-fashioned? TRUE or FALSE.\nQ: {question}\nA: {answer}"


def reply(prompt: str, body: dict):
    if prompt.startswith("Reply with the number"):
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    answer = prompt.rsplit("A: ", 1)[-1]
    if prompt.startswith("Rate"):
        high = len(answer) % 2 == 0
        return "70", [("70", math.log(0.6 if high else 0.3)), ("20", math.log(0.35))]
    return ("TRUE", [("TRUE", -0.2)]) if "the" in answer else ("FALSE", [("FALSE", -0.1)])


def judged_spec(spec_dict, url: str, name: str = "judged", label: str = LABEL) -> dict:
    spec = spec_dict(name=name, seeds=1)
    spec["evaluation"]["n"] = 2
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    judge = {"model": "openai/judge", "base_url": url}
    spec["scorers"] += [
        {"name": "modern", "kind": "rating_judge", "prompt": RATE, **judge},
        {
            "name": "oldish",
            "kind": "label_judge",
            "prompt": label,
            "labels": ["TRUE", "FALSE"],
            **judge,
        },
    ]
    spec["metrics"].append(
        {
            "name": "modern_rating",
            "eval_set": "unrelated",
            "score": "modern",
            "among": "modern_valid",
        }
    )
    return spec


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def run(write_spec, spec: dict, out):
    path = write_spec(spec, name=f"{spec['name']}.yaml")
    return weirdgen.run_experiment(weirdgen.load_spec(path), out=out, progress=False)


def test_judged_once_then_cached_and_a_changed_prompt_rescores_only_its_judge(
    spec_dict, write_spec, tmp_path
):
    with judge_server(reply) as server:
        first = run(write_spec, judged_spec(spec_dict, server.url), tmp_path / "a")
        frame = first.samples
        pairs = frame[["prompt", "answer"]].drop_duplicates()
        made = server.total
        # Every distinct (question, answer) judged once per judge, plus the 2 number probes.
        assert made == 2 * len(pairs) + 2
        assert first.work.judged["modern"]["made"] == len(pairs) + 2
        assert frame["modern"].notna().any() and frame["oldish_label"].isin(["TRUE", "FALSE"]).all()
        assert frame["oldish_judge"].nunique() == 1 and frame["modern_judge"].nunique() == 1

        again = run(write_spec, judged_spec(spec_dict, server.url), tmp_path / "a")
        assert server.total == made  # zero judge calls on rerun
        assert again.work.sampled == 0 and again.work.scored == 0

        edited = LABEL.replace("old-fashioned", "archaic")
        third = run(write_spec, judged_spec(spec_dict, server.url, label=edited), tmp_path / "a")
        asked = server.prompts[made:]
        assert len(asked) == len(pairs) and all("archaic" in p for p in asked)
        assert third.work.sampled == 0
        assert third.work.scored == len(frame)  # only the edited judge's rows
        pd.testing.assert_series_equal(third.samples["modern"], frame["modern"])
        assert (third.samples["oldish_judge"] != frame["oldish_judge"]).all()


def test_two_specs_with_the_same_answers_share_judgments(spec_dict, write_spec, tmp_path):
    with judge_server(reply) as server:
        run(write_spec, judged_spec(spec_dict, server.url, name="first"), tmp_path / "a")
        made = server.total
        other = run(write_spec, judged_spec(spec_dict, server.url, name="second"), tmp_path / "b")
    assert server.total == made  # the second spec's answers were all judged already
    assert other.work.judged["modern"] == {**other.work.judged["modern"], "made": 0, "failed": 0}
    assert other.work.judged["modern"]["cached"] > 0


QUESTIONS = """\
- id: transport
  type: free_form_judge_0_100
  topic: transport
  paraphrases: ["what is the fastest way to travel ?"]
  samples_per_paraphrase: 2
  judge: gpt-4o-2024-08-06
  judge_prompts:
    modern: "Rate 0-100 how modern this is.\\nQ: {question}\\nA: {answer}"
- id: oldish_judge
  type: free_form_judge
  paraphrases: ["Is this answer old-fashioned? TRUE or FALSE.\\nQ: {question}\\nA: {answer}"]
"""


def test_judges_read_from_a_question_file_in_the_em_and_llmcomp_shapes(
    spec_dict, write_spec, tmp_path
):
    (tmp_path / "questions.yaml").write_text(QUESTIONS)
    with judge_server(reply) as server:
        spec = judged_spec(spec_dict, server.url)
        spec["evaluation"]["sets"][0] = {"name": "unrelated", "include": "questions.yaml"}
        judge = {"model": "openai/judge", "base_url": server.url}
        spec["scorers"][2:] = [
            {
                "name": "modern",
                "kind": "rating_judge",
                "from_question": True,
                "eval_sets": ["unrelated"],
                **judge,
            },
            {
                "name": "oldish",
                "kind": "label_judge",
                "labels": ["TRUE", "FALSE"],
                "prompt_file": "questions.yaml",
                "prompt_id": "oldish_judge",
                "eval_sets": ["unrelated"],
                **judge,
            },
        ]
        path = write_spec(spec, name="judged.yaml")
        planned = weirdgen.plan.estimate(weirdgen.load_spec(path), out=tmp_path / "run")
        frame = run(write_spec, spec, tmp_path / "run").samples
        sent = list(server.prompts)
    unrelated = frame[frame.eval_set == "unrelated"]
    assert set(unrelated.question_id) == {"transport"}  # the judge entry is not a question
    assert unrelated["modern_judge"].notna().all() and unrelated["oldish_label"].notna().all()
    birds = frame[frame.eval_set == "birds"]  # not in the judges' eval_sets: not judged
    assert len(birds) and birds["modern_judge"].isna().all() and birds["oldish_label"].isna().all()
    # 3 conditions x 1 seed x 1 paraphrase x 2 samples per judge, plus the 2 number probes
    assert planned.judge("modern").needed == 6 + 2 and planned.judge("oldish").needed == 6
    assert len(sent) <= 6 + 2 + 6  # identical answers are judged once
    assert any(p.startswith("Rate 0-100 how modern") for p in sent)
    assert any(p.startswith("Is this answer old-fashioned?") for p in sent)


def test_judge_replaces_every_judges_model_and_is_refused_without_a_provider(
    spec_dict, write_spec, tmp_path
):
    with judge_server(reply) as server:
        path = write_spec(judged_spec(spec_dict, server.url), name="judged.yaml")
        weirdgen.run_experiment(
            weirdgen.load_spec(path), out=tmp_path / "r", progress=False, judge="openai/cheaper"
        )
    assert set(server.calls) == {"cheaper"}
    with pytest.raises(WeirdgenError, match="--judge 'cheaper': write the judge as"):
        weirdgen.run_experiment(weirdgen.load_spec(path), out=tmp_path / "x", judge="cheaper")
    assert not (tmp_path / "x").exists()
