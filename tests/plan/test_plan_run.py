"""The plan against a real run on the scripted local server: the calls it counts are the
calls the server receives, and after the run everything is stored."""

from __future__ import annotations

import json

import pytest
import yaml
from plan_specs import LABEL, judged_spec, reply

import weirdgen
from judge_server import judge_server
from weirdgen.plan import estimate

MODELS = {"rater": "openai/rater", "labeler": "openai/labeler", "reasoner": "openai/reasoner"}
QUESTIONS, N, SEEDS = 3, 2, 2


@pytest.fixture
def server(monkeypatch):
    with judge_server(reply) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the sampled model: openai/answerer
        yield server


def write(tmp_path, spec: dict):
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return weirdgen.load_spec(path)


def small(server, **changes) -> dict:
    """Two base-model conditions of openai/answerer: they share every sample."""
    spec = judged_spec(server.url, MODELS, QUESTIONS, N, SEEDS, "openai/answerer", False)
    return {**spec, **changes}


def by_model(plan) -> dict[str, int]:
    """Calls the plan says each model on the server gets."""
    calls: dict[str, int] = {}
    for row in plan.rows:
        calls[row.model.partition("/")[2]] = calls.get(row.model.partition("/")[2], 0) + row.todo
    return calls


def test_planned_calls_are_the_calls_the_run_makes(server, tmp_path, cli):
    spec = write(tmp_path, small(server))
    out = tmp_path / "run"
    plan = estimate(spec, out=out)
    assert server.total == 0
    unique = SEEDS * QUESTIONS * N  # both conditions sample the same model: shared keys
    assert plan.samples == unique and plan.stage("sample")[0].needed == unique
    assert plan.judge("aligned").todo == unique + 2  # with the shared number probe
    assert plan.judge("coherent").todo == plan.judge("era").todo == unique
    weirdgen.run_experiment(spec, out=out, progress=False)
    assert dict(server.calls) == by_model(plan)

    work = json.loads((out / "work.json").read_text())
    used = {"sample": work["usage"], **work["judged"]}
    for row in plan.rows:
        actual = used[row.name or row.stage]
        # Completion tokens are bounds: max_tokens per call, 1 for a rating's logprob call.
        assert 0 < actual["completion_tokens"] <= row.completion_tokens
        # The server counts words; the plan estimates 4 characters per token plus 3 per
        # message and 3 per chat, and assumes answers of max_tokens (8) tokens where none is
        # sampled yet. Words of these prompts average about 4.5 characters, so the estimate is
        # above the word count, by at most about 3x for short prompts where the chat
        # overhead dominates (a real tokenizer is about 1.3 tokens per English word).
        assert actual["prompt_tokens"] <= row.prompt_tokens <= 3 * actual["prompt_tokens"]

    after = estimate(spec, out=out)
    assert after.done and all(r.stored == r.needed for r in after.rows)
    assert [r.needed for r in after.rows if r.stage == "sample"] == [unique]
    code, printed, err = cli("plan", spec.source, "--out", out)
    assert code == 0, err
    assert "total to do: 0 finetunes, 0 samples, 0 judge calls; estimated $0.00" in printed
    assert server.total == sum(by_model(plan).values())  # the plans called nothing


def test_a_new_judge_on_stored_answers_is_counted_exactly(server, tmp_path):
    out = tmp_path / "run"
    spec = write(tmp_path, small(server))
    weirdgen.run_experiment(spec, out=out, progress=False)
    made = server.total
    extra = {
        "name": "refusal2",
        "kind": "label_judge",
        "model": "openai/labeler2",
        "prompt": LABEL.replace("refuse", "decline"),
        "labels": ["YES", "NO"],
        "base_url": server.url,
    }
    grown = small(server, name="grown")
    grown["scorers"] = [*grown["scorers"], extra]
    grown["evaluation"]["n"] = N + 1  # one more sample per prompt and seed
    spec = write(tmp_path, grown)
    plan = estimate(spec, out=out)
    fresh = SEEDS * QUESTIONS  # the new sample index
    assert plan.samples == fresh
    assert plan.judge("aligned").todo == fresh and plan.judge("aligned").stored > 0
    assert plan.judge("refusal2").todo == SEEDS * QUESTIONS * (N + 1)  # stored answers too
    assert plan.judge("refusal2").stored == 0
    weirdgen.run_experiment(spec, out=out, progress=False)
    assert server.total - made == sum(by_model(plan).values())
    assert server.calls["labeler2"] == plan.judge("refusal2").todo

    other = estimate(spec, out=out, judge="openai/cheap")  # a new judge model: nothing stored
    assert {r.model for r in other.stage("judge")} == {"openai/cheap"}
    assert other.judge("era").stored == 0 and other.judge("era").todo > 0
    assert other.samples == 0


def test_stored_scores_need_no_call_even_without_the_judge_cache(
    server, tmp_path, tmp_path_factory, monkeypatch
):
    out = tmp_path / "run"
    spec = write(tmp_path, small(server))
    weirdgen.run_experiment(spec, out=out, progress=False)
    made = server.total
    monkeypatch.setenv("WEIRDGEN_HOME", str(tmp_path_factory.mktemp("empty-home")))
    plan = estimate(spec, out=out)  # no judge cache, no registry: the run store alone
    assert plan.done and plan.judge("aligned").stored == plan.judge("aligned").needed > 0
    assert not any(r.assumed for r in plan.rows) and not plan.notes  # nothing left to guess
    weirdgen.run_experiment(spec, out=out, progress=False)
    assert server.total == made
