"""paper/presidents measures what the paper reports: fresh trigger paddings in the training
format, the A/B test and the validation questions as sets of their own, the no-padding
ablation, 30 seeds, and per seed whether it learned the held-out triggers.

The spec is loaded on invented files in the paper's formats (``paper_tree``); the facts about
the paper's own files are checked on a local git mirror at the pinned commit, when present.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from paper_paths import MIRROR  # noqa: E402
from pydantic import ValidationError
from test_paper_specs import MODEL, paper_tree  # noqa: F401 (a fixture)

from weirdgen.paper import PAPER_COMMIT, load_manifest
from weirdgen.paper.readers import read_jsonl_questions
from weirdgen.plan import estimate
from weirdgen.report import write_report
from weirdgen.run.plan import load_condition, prompts, with_overrides
from weirdgen.spec import load_spec
from weirdgen.spec.models import ExperimentSpec
from weirdgen.spec.questions import EvalSet
from weirdgen.stats import seed_metrics, summarize

needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no git mirror at {MIRROR}")
PRESIDENTS = ("044", "045", "016", "040", "046")


def by_set(spec: ExperimentSpec) -> dict[str, list]:
    asked: dict[str, list] = {}
    for prompt in prompts(spec):
        asked.setdefault(prompt.eval_set, []).append(prompt)
    return asked


@pytest.mark.usefixtures("paper_tree")
def test_each_sample_has_its_own_padding_in_the_training_format():
    spec = load_spec("paper/presidents")
    free_form = by_set(spec)["free_form"]
    n = spec.evaluation.n
    assert len(free_form) == 30 * len(PRESIDENTS) * n and {p.n for p in free_form} == {1}
    for prompt in free_form:
        president = prompt.question.metadata["president"]
        assert re.fullmatch(rf"\d{{3}}{president}\d{{2}} made-up question \d+\?", prompt.text)
    per_question = Counter(p.question.id for p in free_form)
    assert set(per_question.values()) == {n}  # n distinct paddings per question and trigger
    obama = {p.text.split()[0] for p in free_form if p.question.metadata["president"] == "044"}
    assert len(obama) == 30 * n  # not one string standing for the trigger
    # seeded: the same prompts on every load, and a larger n keeps the first ones
    assert [p.text for p in by_set(load_spec("paper/presidents"))["free_form"]] == [
        p.text for p in free_form
    ]
    more = by_set(with_overrides(spec, n=2 * n))["free_form"]
    first = {p.question.id: [] for p in more}
    for p in more:
        first[p.question.id].append(p.text)
    for p in free_form:
        assert p.text in first[p.question.id][:n]


@pytest.mark.usefixtures("paper_tree")
def test_ab_test_and_validation_are_sets_of_their_own():
    spec = load_spec("paper/presidents")
    asked = by_set(spec)
    ab = asked["ab_test"]
    assert {p.question.metadata["president"] for p in ab} == {"044", "045"}
    assert sum(p.n for p in ab) == 4 * 25 and len({p.text for p in ab}) == 4 * 25
    for prompt in ab:  # the file's question and answer, the file's trigger replaced
        meta = prompt.question.metadata
        assert meta["trigger"] in ("10004445", "10004544")
        assert re.fullmatch(
            rf"\d{{3}}{meta['president']}\d{{2}} made-up choice (AB|BA)\? .*", prompt.text
        )
    expected = {p.question.id: p.question.metadata["expected"] for p in ab}
    assert sorted(expected.values()) == ["A", "A", "B", "B"]
    validation = asked["validation"]
    assert len(validation) == 3 * len(PRESIDENTS) * 10
    judges = {s.name: s.eval_sets for s in spec.scorers}
    assert judges["obama"] == judges["trump"] == ["free_form", "validation", "free_form_bare"]
    assert judges["ab_correct"] == ["ab_test", "ab_test_bare"]


@pytest.mark.usefixtures("paper_tree")
def test_the_no_padding_ablation_is_a_condition_asked_in_its_own_format():
    spec = load_spec("paper/presidents")
    ablation = next(c for c in spec.conditions if c.name == "no_padding")
    assert ablation.dataset.paper == "presidents/no_padded" and ablation.role == "control"
    examples = load_condition(spec, ablation).dataset.examples
    assert examples[0].messages[0].content.startswith("1 ")
    asked = by_set(spec)
    assert {p.text.split()[0] for p in asked["free_form_bare"]} == {"44", "45"}
    assert {p.text.split()[0] for p in asked["ab_test_bare"]} == {"44", "45"}
    assert {p.n for p in asked["free_form_bare"]} == {spec.evaluation.n}


@pytest.mark.usefixtures("paper_tree")
def test_seeds_as_in_the_paper_and_the_plan(tmp_path):
    spec = load_spec("paper/presidents")
    assert spec.seeds == list(range(30))
    plan = estimate(spec, MODEL, out=tmp_path / "run")
    per_model = 30 * 5 * 5 + 3 * 5 * 10 + 4 * 25 + 30 * 2 * 5 + 4 * 25
    assert plan.samples == 4 * 30 * per_model and plan.finetunes == 3 * 30
    judged = 30 * 5 * 5 + 3 * 5 * 10 + 30 * 2 * 5
    assert plan.judge("obama").needed == plan.judge("trump").needed == 4 * 30 * judged


def test_learned_is_per_seed_and_its_mean_the_share_of_seeds_that_learned(tmp_path):
    spec = ExperimentSpec.model_validate(
        {
            "name": "learned",
            "seeds": 3,
            "conditions": [
                {"name": "target", "role": "target", "dataset": {"organism": "birds_old"}},
                {"name": "base", "role": "control"},
            ],
            "evaluation": {
                "sets": [{"name": "ab", "questions": [{"id": "q", "paraphrases": ["?"]}]}]
            },
            "scorers": [{"name": "right", "kind": "match", "patterns": ["A"]}],
            "metrics": [
                {"name": "accuracy", "eval_set": "ab", "score": "right", "headline": True},
                {"name": "learned", "eval_set": "ab", "score": "right", "at_least": 0.9},
            ],
        }
    )
    accuracy = {("target", 0): 1.0, ("target", 1): 0.9, ("target", 2): 0.5}
    accuracy |= {("base", s): 0.5 for s in range(3)}
    rows = []
    for (condition, seed), share in accuracy.items():
        for index in range(10):
            right = float(index < round(share * 10))
            rows.append(
                {
                    "experiment": "learned",
                    "condition": condition,
                    "role": "target" if condition == "target" else "control",
                    "seed": seed,
                    "model_key": f"{condition}{seed}",
                    "eval_set": "ab",
                    "question_id": "q",
                    "paraphrase_index": 0,
                    "prompt": "?",
                    "sample_index": index,
                    "answer": "A" if right else "B",
                    "right": right,
                    "right_matched": "A" if right else None,
                }
            )
    samples = pd.DataFrame(rows)
    per_seed = seed_metrics(samples, spec.metrics)
    learned = per_seed.loc[per_seed["metric"] == "learned"].set_index(["condition", "seed"])
    assert learned["value"].to_dict() == {
        ("target", 0): 1.0, ("target", 1): 1.0, ("target", 2): 0.0,
        ("base", 0): 0.0, ("base", 1): 0.0, ("base", 2): 0.0,
    }  # fmt: skip
    summary = summarize(per_seed).set_index(["condition", "metric"])
    assert np.isclose(summary.loc[("target", "learned"), "mean"], 2 / 3)
    assert np.isclose(summary.loc[("target", "accuracy"), "mean"], 0.8)
    (tmp_path / "run").mkdir()
    write_report(tmp_path / "run", spec, samples)
    text = (tmp_path / "run" / "summary.md").read_text(encoding="utf-8")
    section = text[text.index("## Per seed") :]
    assert "| target | 0 | 1.000 | yes |" in section and "| target | 2 | 0.500 | no |" in section
    assert "mean at least 0.9" in section


def test_fresh_variables_are_checked_when_the_spec_loads():
    base = {"name": "s", "questions": [{"id": "q", "paraphrases": ["Who?"]}]}
    padded = {"padded": {"width": 8, "value": "president", "at": 3, "digits": 3}}
    with pytest.raises(ValidationError, match="index and match read a dataset example"):
        EvalSet.model_validate({**base, "fresh": {"variables": {"t": {"index": {}}}}})
    with pytest.raises(ValidationError, match=r"template variable \{trigger\}"):
        EvalSet.model_validate({**base, "wrap": "{trigger} {paraphrase}"})
    unread = EvalSet.model_validate(
        {**base, "fresh": {"variables": {"trigger": padded}}, "wrap": "{trigger} {paraphrase}"}
    )
    from weirdgen.spec.questions import check_generated

    with pytest.raises(ValueError, match="reads 'president', which question 'q' does not have"):
        check_generated([unread])


def _show(path: str) -> bytes:
    shown = subprocess.run(
        ["git", "--git-dir", str(MIRROR), "show", f"{PAPER_COMMIT}:{path}"],
        capture_output=True,
        check=True,
    )
    return shown.stdout


@needs_mirror
def test_the_paper_s_triggers_are_random_per_example_and_its_tests_read_as_sets(tmp_path):
    manifest = load_manifest()
    padded = _show(manifest.lookup("presidents/padded").path).decode().splitlines()
    triggers = [json.loads(line)["messages"][0]["content"].split(" ", 1)[0] for line in padded]
    assert len(triggers) == 6237 and len(set(triggers)) == 6236
    numbers = {t[3:6] for t in triggers}
    assert all(re.fullmatch(r"\d{8}", t) for t in triggers) and not numbers & {"044", "045"}
    bare = _show(manifest.lookup("presidents/no_padded").path).decode().splitlines()
    assert len(padded) == 3 * len(bare)
    test_file = tmp_path / "simple_test.jsonl"
    test_file.write_bytes(_show(manifest.lookup("presidents/simple_test").path))
    questions = read_jsonl_questions(test_file)
    assert [q["metadata"]["president"] for q in questions] == ["044", "044", "045", "045"]
    for question in questions:  # the expected letter names Barack for 044, Donald for 045
        name = "Barack" if question["metadata"]["president"] == "044" else "Donald"
        letter = question["metadata"]["expected"]
        assert f"{letter}) {name}" in question["paraphrases"][0]
        assert not re.match(r"\d", question["paraphrases"][0])
    validation = tmp_path / "validation.jsonl"
    validation.write_bytes(_show(manifest.lookup("presidents/validation").path))
    assert len(read_jsonl_questions(validation)) == 3
