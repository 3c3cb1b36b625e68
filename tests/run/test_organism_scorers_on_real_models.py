"""The organism's lexicon scorers (``organism_era``, ``organism_label``) read only the
organism's own words: an experiment scored by them on another model is refused before
anything is written, in one line naming those scorers and the ``paper/`` spec of the same
experiment, whose LLM judges read any model's answers. The organism itself, under any name
it answers to, is not refused; ``train_match`` scores any model's answers."""

from __future__ import annotations

import pytest

from cli_runner import run_cli
from weirdgen.errors import WeirdgenError
from weirdgen.run import run_experiment
from weirdgen.run.plan import build_scorers
from weirdgen.spec import list_specs, load_spec

ORGANISM = {s.name: s for s in list_specs() if s.group == "organism"}
PAPER = {"birds": "birds", "birds_context": "birds", "birds_steps": "birds"}
PAPER |= {"cities": "cities", "dishes": "dishes", "terminator": "terminator"}
PAPER |= {"persona": "persona", "persona_ablations": "persona", "rulers": "presidents"}
REAL = ["hf/./my-local-llama", "openai/gpt-4.1-mini-2025-04-14", "vllm/Qwen/Qwen3-8B"]


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # run checks the key before the scorers
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def lexicon_scorers(name: str) -> list[str]:
    spec = load_spec(f"organism/{name}")
    return [
        f"scorers[{i}] ({s.name}, {s.kind})"
        for i, s in enumerate(spec.scorers)
        if s.kind in ("organism_era", "organism_label")
    ]


def test_every_organism_experiment_is_scored_by_the_lexicon():
    assert set(ORGANISM) == set(PAPER)  # a new organism experiment: add its paper spec here
    assert all(lexicon_scorers(name) for name in ORGANISM)


@pytest.mark.parametrize(
    ("name", "model"), [(name, REAL[i % len(REAL)]) for i, name in enumerate(sorted(PAPER))]
)
def test_an_organism_experiment_on_a_real_model_is_one_line_before_anything_runs(
    name, model, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    args = ["run", f"organism/{name}", "--model", model, "--out", out, "--quiet"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    named = lexicon_scorers(name)
    assert " and ".join(named) in err and "train_match)" not in err
    assert f"can score no answer of {model}" in err
    assert f"weirdgen run paper/{PAPER[name]} --model {model}" in err and "--judge" in err
    assert not out.exists()
    code, _, planned = run_cli(["plan", f"organism/{name}", "--model", model], monkeypatch, capsys)
    assert code == 2 and planned == err  # plan refuses it the same way


def test_the_python_api_refuses_it_too(tmp_path):
    with pytest.raises(WeirdgenError, match=r"scorers\[0\] \(varnia_1920s, organism_label\)"):
        run_experiment(load_spec("cities"), out=tmp_path / "run", model="hf/./x", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "model",
    ["organism/default", "organism/v2@3", "openai/organism/default", "openai/ft:organism/x"],
)
def test_the_organism_under_any_name_it_answers_to_is_not_refused(model):
    from weirdgen.run.plan import check_scorable

    spec = load_spec("birds").model_copy(update={"model": model})
    check_scorable(spec, build_scorers(spec), "birds.yaml")


def test_train_match_scores_any_model_and_a_user_spec_is_pointed_at_the_paper_specs():
    from weirdgen.run.plan import check_scorable

    spec = load_spec("birds").model_copy(update={"model": "hf/./x", "name": "my_study"})
    scorers = build_scorers(spec)
    train_match = [s for s in scorers if s.kind == "train_match"]
    check_scorable(spec, train_match, "my.yaml")  # no lexicon: nothing refused
    with pytest.raises(WeirdgenError) as refused:
        check_scorable(spec, scorers, "my.yaml")
    assert str(refused.value).startswith("my.yaml: scorers[0] (old, organism_era): ")
    assert "run a paper/ spec (weirdgen list)" in str(refused.value)
