"""``weirdgen run --budget``: refused over budget or without a price, before anything is
written; allowed within it."""

from __future__ import annotations

import pytest
import yaml
from plan_specs import judged_spec, reply

import weirdgen
from judge_server import judge_server
from weirdgen.plan import estimate

MODELS = {"rater": "openai/rater", "labeler": "openai/labeler", "reasoner": "openai/reasoner"}
PRICES = {  # USD per 1M tokens: dear enough that this small run costs cents
    "openai/answerer": {"input": 100.0, "output": 400.0},
    "openai/rater": {"input": 50.0, "output": 200.0},
    "openai/labeler": {"input": 10.0, "output": 40.0},
    "openai/reasoner": {"input": 20.0, "output": 80.0},
}


@pytest.fixture
def setup(tmp_path, monkeypatch, _private_registry):
    """The small judged spec with its sampled model on the local server, and a price file in
    $WEIRDGEN_HOME (where run --budget looks for one)."""
    with judge_server(reply) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        spec = judged_spec(server.url, MODELS, 2, 2, 2, "openai/answerer", False)
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        prices = _private_registry / "prices.yaml"
        prices.write_text(yaml.safe_dump({"models": PRICES}))
        yield path, server, prices


def test_over_budget_is_refused_in_one_line_before_anything_is_written(setup, cli, tmp_path):
    path, server, prices = setup
    plan = estimate(weirdgen.load_spec(path), out=tmp_path / "run")
    assert plan.prices == prices and 0.01 < plan.usd < 1
    code, out, err = cli("run", path, "--out", tmp_path / "run", "--budget", "0.01", "--quiet")
    assert code == 2
    line = err.strip()
    assert "\n" not in line, err
    assert line == (
        f"error: estimated ${plan.usd:.2f} for {plan.judge_calls} judge calls and "
        f"{plan.samples} samples exceeds --budget $0.01; lower n/seeds, use a cheaper judge "
        "(weirdgen plan --judge prices one), or raise the budget"
    )
    assert not (tmp_path / "run").exists() and server.total == 0


def test_within_budget_runs_and_a_finished_run_costs_nothing(setup, cli, tmp_path):
    path, server, _ = setup
    code, _, err = cli("run", path, "--out", tmp_path / "run", "--budget", "1", "--quiet")
    assert code == 0, err
    assert (tmp_path / "run" / "COMPLETE").is_file() and server.total > 0
    made = server.total
    code, _, err = cli("run", path, "--out", tmp_path / "run", "--budget", "0", "--quiet")
    assert code == 0, err  # nothing left to do: $0.00 is within any budget
    assert "estimated $0.00, within --budget $0.00" in err and server.total == made


def test_a_model_without_a_price_is_refused_with_a_budget(setup, cli, tmp_path):
    path, server, prices = setup
    table = yaml.safe_load(prices.read_text())
    del table["models"]["openai/labeler"]
    prices.write_text(yaml.safe_dump(table))
    code, out, err = cli("run", path, "--out", tmp_path / "run", "--budget", "1000", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no price for openai/labeler (judge refusal)" in err and str(prices) in err
    assert not (tmp_path / "run").exists() and server.total == 0
    code, out, _ = cli("plan", path, "--out", tmp_path / "run")  # plan shows it, never as $0
    assert code == 0
    refusal = next(line for line in out.splitlines() if "judge refusal" in line)
    assert "price unknown" in refusal and "+ price unknown for openai/labeler" in out


def test_help_shows_plan_and_budget(cli):
    code, out, _ = cli("plan", "--help")
    assert code == 0 and "--judge" in out and "--prices" in out
    code, out, _ = cli("run", "--help")
    assert code == 0 and "--budget" in out
