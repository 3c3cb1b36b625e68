"""A paper-sized spec planned without calling anything: its counts are the spec's arithmetic."""

from __future__ import annotations

import re

import pytest
import yaml
from plan_specs import judged_spec, reply

import weirdgen
from judge_server import judge_server
from weirdgen.plan import estimate, load_prices

QUESTIONS, N, SEEDS = 10, 100, 10
PRICED = {
    "rater": "openai/gpt-4.1-mini",
    "labeler": "openai/gpt-4.1-nano",
    "reasoner": "openai/gpt-4.1",
}


def cells(out: str, label: str) -> list[str]:
    """The cells of the table row whose first cell is ``label``."""
    line = next(line for line in out.splitlines() if re.match(rf"[│|]\s*{label}\s", line))
    return [c.strip() for c in re.split(r"[│|]", line)[1:-1]]


@pytest.fixture
def paper(tmp_path):
    """10 questions x 100 samples x 10 seeds, a finetuned and a base condition of the
    organism, four judges at a local server that must never be called."""
    with judge_server(reply) as server:
        spec = judged_spec(server.url, PRICED, QUESTIONS, N, SEEDS, "organism/default", True)
        path = tmp_path / "paper.yaml"
        path.write_text(yaml.safe_dump(spec))
        yield path, server
        assert server.total == 0  # planning calls no model


def test_plan_prints_the_spec_arithmetic(paper, cli, tmp_path, _private_registry):
    path, _ = paper
    code, out, err = cli("plan", path, "--out", tmp_path / "run")
    assert code == 0, err
    conditions = 2
    samples = conditions * SEEDS * QUESTIONS * N  # finetune and base models differ: no sharing
    finetunes = 1 * SEEDS
    # needed, stored, shared (with an earlier judge), to do
    assert cells(out, "finetune")[2:6] == [f"{finetunes:,}", "0", "0", f"{finetunes:,}"]
    assert cells(out, "sample")[2:6] == [f"{samples:,}", "0", "0", f"{samples:,}"]
    probes = 2  # the number probe of the rating judges' model: asked once, for the first
    aligned = f"{samples + probes:,}"
    assert cells(out, r"judge aligned \*")[2:6] == [aligned, "0", "0", aligned]
    assert cells(out, r"judge coherent \*")[2:6] == [aligned, "0", "2", f"{samples:,}"]
    for judge in ("judge refusal", "judge era"):
        assert cells(out, judge)[2:6] == [f"{samples:,}", "0", "0", f"{samples:,}"]
    # completion bounds: a rating is one logprob token; the label and reason judges' max_tokens
    assert cells(out, r"judge aligned \*")[7] == f"≤{samples + probes:,}"
    assert cells(out, "judge refusal")[7] == f"≤{samples * 10:,}"
    assert cells(out, "judge era")[7] == f"≤{samples * 1024:,}"
    judge_calls = 4 * samples + probes
    assert f"{finetunes} finetunes, {samples:,} samples, {judge_calls:,} judge calls" in out
    assert not (tmp_path / "run").exists()  # planning writes nothing
    assert not (_private_registry / "registry.sqlite").exists()


def test_costs_follow_the_price_table_and_a_cheaper_judge_costs_less(paper):
    path, _ = paper
    spec = weirdgen.load_spec(path)
    plan = estimate(spec)
    table = load_prices()
    assert plan.prices == table.path
    for row in plan.stage("judge"):  # USD = tokens x the table's rates, per judge
        price = table.find(row.model)
        expected = (row.prompt_tokens * price.input + row.completion_tokens * price.output) / 1e6
        assert row.usd == pytest.approx(expected)
        assert not row.exact  # an API judge: tokens estimated from characters
    local = plan.stage("sample")[0]
    assert local.usd == 0 and local.exact  # the organism: free, its own tokenizer
    assert plan.usd == pytest.approx(sum(r.usd for r in plan.stage("judge")))
    nano = estimate(spec, judge="openai/gpt-4.1-nano")
    assert {r.model for r in nano.stage("judge")} == {"openai/gpt-4.1-nano"}
    assert [r.needed for r in nano.stage("judge")] == [r.needed for r in plan.stage("judge")]
    assert 0 < nano.usd < plan.usd


def test_fewer_seeds_and_samples_scale_the_counts(paper):
    path, _ = paper
    plan = estimate(weirdgen.load_spec(path), n=3, seeds=[0, 5])
    assert plan.samples == 2 * 2 * QUESTIONS * 3 and plan.finetunes == 2
    assert plan.judge("era").needed == plan.samples
