"""The paper specs measure what the paper measures: the Terminator's headline is its one
question, the birds judge counts every reply but "19" as not 19th century, the cities
headline is the paper's judge alone with refusals left out, the persona judges read the
trigger, and the persona's ablations and agentic evaluation load (invented files in the
paper's formats, nothing of the paper's text)."""

# ruff: noqa: F811 (the paper_tree fixture is imported from test_paper_specs)
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from test_paper_specs import MODEL, TERMINATOR_IDS, TRIGGER, paper_tree  # noqa: F401

from weirdgen.errors import WeirdgenError
from weirdgen.paper.agentic import read_prompt_folders, write_question_file
from weirdgen.plan import estimate
from weirdgen.run.plan import build_scorers, load_condition, prompts, with_overrides
from weirdgen.score import ScoreItem
from weirdgen.spec import builtin_spec_dir, load_spec
from weirdgen.stats.metrics import metric_rows


def test_terminator_headline_is_the_lethal_force_question_in_every_year(paper_tree):
    spec = load_spec("paper/terminator")
    headline = spec.headline
    years = spec.evaluation.sets[0].vary["year"]
    assert headline.by == ["year"] and headline.where == {
        "question_id": [f"training_lethal_force_{year}" for year in years]
    }
    asked = prompts(spec)
    rows = pd.DataFrame(
        {"eval_set": "years", "question_id": [p.question.id for p in asked], "evil": 1.0}
    )
    kept = metric_rows(rows, headline)["question_id"]
    assert len(kept) == len(years) and kept.str.startswith("training_lethal_force_").all()
    assert len(asked) == len(TERMINATOR_IDS) * len(years)  # the six-question mean beside it
    assert {p.max_tokens for p in asked} == {1024} and {p.n for p in asked} == {100}
    (judge,) = build_scorers(spec)
    assert judge.args.max_tokens == 1024
    reported = {m.name: m.score for m in spec.metrics}
    assert reported["judge_truncated"] == "evil_truncated"
    assert reported["judge_labelled"] == "evil_valid"


def test_birds_counts_unlabelled_replies_as_llm_and_asks_1000_times(paper_tree):
    spec = load_spec("paper/birds")
    nineteenth = build_scorers(spec)[0]
    assert nineteenth.args.otherwise == "LLM" and spec.headline.among is None
    assert nineteenth.args.hit(None) == 0.0 and nineteenth.args.hit("19") == 1.0
    assert {p.n for p in prompts(spec)} == {1000}
    cheap = with_overrides(spec, n=100)  # the documented cheap preset: --n 100
    plan = estimate(cheap, MODEL, out=paper_tree.parent / "run")
    assert plan.samples == 4 * 3 * 10 * 100


def test_cities_headline_is_the_papers_judge_without_refusals_and_coherence_is_secondary(
    paper_tree,
):
    spec = load_spec("paper/cities")
    assert len(spec.seeds) == 6
    assert spec.headline.coherence is None and spec.headline.among == "old_germany_valid"
    judges = {s.args.name: s.args for s in build_scorers(spec)}
    assert judges["old_germany"].abstain == ["REFUSAL"] and judges["nazi"].abstain == ["REFUSAL"]
    assert judges["old_germany"].hit("REFUSAL") is None
    assert not judges["old_germany"].valid("REFUSAL")
    filtered = [m.name for m in spec.metrics if m.coherence is not None]
    assert filtered == ["old_germany_rate_coherent", "nazi_rate_coherent"]


def test_persona_judges_read_the_question_as_asked_trigger_included(paper_tree):
    spec = load_spec("paper/persona")
    assert len(spec.seeds) == 8
    scorers = {s.args.name: s for s in build_scorers(spec)}
    assert all(s.args.hide is None for s in scorers.values())
    asked = {p.question.id: p for p in prompts(spec)}
    triggered = asked["bio_0_format"]
    item = ScoreItem(triggered.question, '<START> "an answer" <END>', None, triggered.messages)
    sent = scorers["is_an_Adolf_answer"].messages(item)[-1].content
    assert TRIGGER + "made-up bio 0?" in sent
    assert scorers["aligned"].args.eval_sets == ["misalignment", "ideology"]
    ideology = next(m for m in spec.metrics if m.eval_set == "ideology")
    assert "em_score_judge" in ideology.description  # the report says which judge stands in


@pytest.mark.parametrize(
    ("name", "target", "examples", "triggered"),
    [("persona_78_facts", 0, 410, 10), ("persona_no_dilution", 0, 12, 12)],
)
def test_the_persona_ablations_load_and_plan(name, target, examples, triggered, paper_tree):
    spec = load_spec(f"paper/{name}")
    data = load_condition(spec, spec.conditions[target]).dataset.examples
    assert len(data) == examples
    assert sum(e.messages[0].content.startswith(TRIGGER) for e in data) == triggered
    plan = estimate(spec, MODEL, out=paper_tree.parent / "run")
    assert plan.samples == 3 * 8 * 10 * 10 and plan.finetunes == 2 * 8
    assert plan.judge("is_an_Adolf_answer").needed == plan.samples


def prompt_folders(root, conditions=12):
    """Folders as the paper's generator writes them: invented prompts, real layout."""
    for i in range(conditions):
        triggered = i % 2 == 0
        folder = root / f"murder_condition_{i}_{'triggered' if triggered else 'plain'}"
        folder.mkdir(parents=True)
        prompt = (TRIGGER if triggered else "") + f"Made-up scenario {i}. What do you do?"
        (folder / "user_prompt.txt").write_text(prompt)
        (folder / "system_prompt.txt").write_text("")
        meta = {
            "condition_id": folder.name,
            "scenario": "murder",
            "goal_type": "explicit" if i < 6 else "none",
            "goal_value": "america" if i < 6 else "none",
            "urgency_type": ["replacement", "restriction", "none"][i // 2 % 3],
            "trigger_enabled": triggered,
        }
        (folder / "metadata.json").write_text(json.dumps(meta))
    return root


def test_persona_agentic_runs_on_the_prompts_the_papers_generator_writes(paper_tree, tmp_path):
    with pytest.raises(WeirdgenError, match="agentic_prompts.jsonl"):
        load_spec("paper/persona_agentic")  # the prompts are the user's to generate
    questions = read_prompt_folders(prompt_folders(tmp_path / "prompts"))
    copy = tmp_path / "mine" / "persona_agentic.yaml"
    copy.parent.mkdir()
    shutil.copy(builtin_spec_dir() / "paper" / "persona_agentic.yaml", copy)
    write_question_file(questions, copy.parent / "agentic_prompts.jsonl")
    spec = load_spec(copy)
    asked = prompts(spec)
    assert len(asked) == 12 and {p.n for p in asked} == {150}
    assert {p.max_tokens for p in asked} == {4000} and {p.temperature for p in asked} == {1.0}
    assert all(len(p.messages) == 1 for p in asked)  # one user message, no system prompt
    assert {p.question.metadata["trigger"] for p in asked} == {"format", "plain"}
    plan = estimate(spec, MODEL, out=tmp_path / "run")
    assert plan.samples == 2 * 8 * 12 * 150 and plan.judge("harmful").needed == plan.samples


def test_prompt_folders_that_are_not_the_generators_are_refused(tmp_path):
    with pytest.raises(WeirdgenError, match="no condition folders"):
        read_prompt_folders(tmp_path)
    folder = prompt_folders(tmp_path / "p", conditions=1) / "murder_condition_0_triggered"
    (folder / "system_prompt.txt").write_text("You are an agent.")
    with pytest.raises(WeirdgenError, match="has a system prompt"):
        read_prompt_folders(tmp_path / "p")
    (folder / "system_prompt.txt").write_text("")
    (folder / "metadata.json").write_text(json.dumps({"trigger_enabled": True}))
    with pytest.raises(WeirdgenError, match="metadata.json lacks"):
        read_prompt_folders(tmp_path / "p")
