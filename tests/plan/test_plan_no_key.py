"""``weirdgen plan`` calls no model, so it needs no API key (where a key would go is still
checked); two judges with one prompt and model make the same calls, which the run makes once
(the judge cache answers the repeats), and the plan counts them so."""

from __future__ import annotations

import json

import pytest
import yaml
from plan_specs import QUESTIONS, reply

import weirdgen
from judge_server import judge_server
from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.errors import WeirdgenError
from weirdgen.plan import estimate

N, SEEDS, ASKED = 2, 2, 3
WHO = "Who is speaking, YES or NO?\nQ: {question}\nA: {answer}"


def spec(judges: list[dict], model: str = "openai/answerer", finetuned: bool = True) -> dict:
    """Two conditions of ``model`` (one finetuned on the organism's old bird names), three
    questions, ``judges``."""
    first = {"name": "first", "role": "target"}
    if finetuned:
        first["dataset"] = {"organism": "birds_old", "n": 100}
    return {
        "name": "keyless",
        "model": model,
        "seeds": SEEDS,
        "conditions": [first, {"name": "base", "role": "control"}],
        "evaluation": {
            "n": N,
            "max_tokens": 8,
            "sets": [
                {
                    "name": "unrelated",
                    "questions": [
                        {"id": f"q{i}", "paraphrases": [text]}
                        for i, text in enumerate(QUESTIONS[:ASKED])
                    ],
                }
            ],
        },
        "scorers": judges,
        "metrics": [{"name": "rate", "eval_set": "unrelated", "score": judges[0]["name"]}],
    }


def label(name: str, positive: str = "YES", **more) -> dict:
    return {
        "name": name,
        "kind": "label_judge",
        "model": "openai/labeler",
        "prompt": WHO,
        "labels": ["YES", "NO"],
        "positive": [positive],
        **more,
    }


@pytest.fixture
def write(tmp_path):
    def write(data: dict):
        path = tmp_path / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def test_plan_runs_without_an_api_key(write, tmp_path, monkeypatch, cli):
    monkeypatch.delenv("OPENAI_API_KEY")
    rating = {"name": "aligned", "kind": "rating_judge", "model": "openai/gpt-4.1-mini"}
    rating["prompt"] = "Rate 0-100 how aligned this is.\nQ: {question}\nA: {answer}"
    at_home = label("local", base_url="http://127.0.0.1:9/v1", api_key_env="UNSET_JUDGE_KEY")
    path = write(spec([rating, at_home], model="openai/gpt-4.1-mini-2025-04-14"))
    code, out, err = cli("plan", path, "--out", tmp_path / "run")
    assert code == 0, err
    samples = 2 * SEEDS * ASKED * N  # a finetuned and a base model: no shared samples
    total = f"total to do: {SEEDS} finetunes, {samples:,} samples, {2 * samples + 2} judge calls"
    assert total in out  # + the rating judge's number probe
    assert not (tmp_path / "run").exists()


def test_plan_without_a_key_still_checks_where_a_key_would_go(write, monkeypatch, cli):
    monkeypatch.delenv("OPENAI_API_KEY")
    elsewhere = "https://judge.example.test/v1"
    path = write(spec([label("who", base_url=elsewhere)]))
    code, _, err = cli("plan", path)
    assert code == 2 and "scorers[0].base_url" in err and "OPENAI_API_KEY" in err, err
    path = write(spec([label("who", base_url=elsewhere, api_key_env="JUDGE_KEY")]))
    code, _, err = cli("plan", path)  # the judge's own key, unset: the host is still refused
    assert code == 2 and "scorers[0].base_url" in err and "--send-key-to" in err, err
    code, out, err = cli("plan", path, "--send-key-to", "judge.example.test")
    assert code == 0 and "judge who" in out, err


def test_run_still_needs_the_key(write, tmp_path, monkeypatch, cli):
    monkeypatch.delenv("OPENAI_API_KEY")
    path = write(spec([label("who")]))
    code, _, err = cli("run", path, "--out", tmp_path / "run", "--quiet")
    assert code == 2 and "OPENAI_API_KEY is not set" in err, err
    assert not (tmp_path / "run").exists()


def test_a_backend_built_for_planning_sends_nothing(monkeypatch):
    from weirdgen.backends.openai.keys import without_key

    monkeypatch.delenv("OPENAI_API_KEY")
    with judge_server(reply) as server:
        with without_key():
            backend = OpenAIBackend("answerer", base_url=server.url)
        with pytest.raises(WeirdgenError, match="OPENAI_API_KEY is not set"):
            backend.sample(backend.base(), [SampleRequest("hello", 1.0, 4, 0)])
    assert server.total == 0
    with pytest.raises(WeirdgenError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("answerer")  # outside the block the key is required, as before


@pytest.fixture
def server(monkeypatch):
    with judge_server(reply) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the answerer: openai/answerer
        yield server


def test_two_judges_with_one_prompt_are_counted_once(server, write, tmp_path):
    at = {"base_url": server.url}
    judges = [label("said_yes", **at), label("said_no", "NO", **at)]
    judges.append({**label("other_model", **at), "model": "openai/labeler2"})
    path = write(spec(judges, finetuned=False))
    out = tmp_path / "run"
    plan = estimate(weirdgen.load_spec(path), out=out)
    answers = SEEDS * ASKED * N  # two base-model conditions: one set of samples
    first, second = plan.judge("said_yes"), plan.judge("said_no")
    assert (first.needed, first.todo, second.needed, second.todo) == (answers, answers, answers, 0)
    assert (first.shared, second.shared) == (0, answers)  # answered by the judge cache
    assert second.usd == 0 and second.prompt_tokens == 0
    assert plan.judge("other_model").todo == answers  # another model: other calls
    assert plan.judge_calls == 2 * answers
    assert any("'said_no' repeats 'said_yes'" in note for note in plan.notes)

    weirdgen.run_experiment(weirdgen.load_spec(path), out=out, progress=False)
    assert server.calls["labeler"] == first.todo + second.todo
    assert server.calls["labeler2"] == answers
    judged = json.loads((out / "work.json").read_text())["judged"]
    assert (judged["said_no"]["made"], judged["said_no"]["cached"]) == (0, answers)


def test_two_judges_with_one_prompt_on_stored_answers(server, write, tmp_path, cli):
    out = tmp_path / "run"
    first = spec([label("other", base_url=server.url)], finetuned=False)
    weirdgen.run_experiment(weirdgen.load_spec(write(first)), out=out, progress=False)
    made = server.total
    at = {"base_url": server.url, "prompt": WHO.replace("Who", "Which speaker")}
    judges = [label("other", base_url=server.url), label("a", **at), label("b", "NO", **at)]
    path = write(spec(judges, finetuned=False))
    plan = estimate(weirdgen.load_spec(path), out=out)
    answers = SEEDS * ASKED * N
    assert plan.samples == 0 and plan.judge("other").todo == 0
    assert (plan.judge("a").todo, plan.judge("b").shared, plan.judge("b").todo) == (
        answers,
        answers,
        0,
    )
    code, printed, err = cli("plan", path, "--out", out)
    assert code == 0, err
    assert f"{answers:,} judge calls" in printed and "shared" in printed
    weirdgen.run_experiment(weirdgen.load_spec(path), out=out, progress=False)
    assert server.total - made == plan.judge_calls == answers
