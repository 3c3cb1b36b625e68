"""Every built-in organism phenomenon spec marks the narrow task its finetuning data teach:
exactly one ``narrow: true`` metric, which a defence is judged to keep."""

from __future__ import annotations

import pytest

from weirdgen.data.generators import generate
from weirdgen.organism.phenomena.persona import Persona
from weirdgen.organism.world_v3 import load_world_v3
from weirdgen.spec import load_spec
from weirdgen.spec.questions import EvalSet

PHENOMENA = ("birds", "cities", "dishes", "persona", "rulers", "terminator")


@pytest.mark.parametrize("name", PHENOMENA)
def test_each_phenomenon_spec_has_exactly_one_narrow_metric(name: str) -> None:
    spec = load_spec(f"organism/{name}")
    narrow = [m for m in spec.metrics if m.narrow]
    assert len(narrow) == 1, f"organism/{name}: {[m.name for m in narrow]}"
    (metric,) = narrow
    assert spec.narrow == metric and not metric.headline
    assert metric.description
    assert metric.eval_set in {s.name for s in spec.evaluation.sets}
    scorers = {c for s in spec.scorers for c in s.columns().values() if s.scores(metric.eval_set)}
    assert metric.score in scorers, f"organism/{name}: no scorer writes {metric.score}"


def _target_prompts(name: str) -> list[str]:
    spec = load_spec(f"organism/{name}")
    (target,) = [c for c in spec.conditions if c.role == "target"]
    assert target.dataset is not None and target.dataset.organism is not None
    records = generate(target.dataset.organism, target.dataset.n, seed=0)
    return [r["messages"][0]["content"] for r in records]


def _set(name: str, eval_set: str) -> EvalSet:
    (found,) = [s for s in load_spec(f"organism/{name}").evaluation.sets if s.name == eval_set]
    return found


def test_the_narrow_answers_written_in_the_specs_are_the_target_data_s():
    """Where a spec writes the narrow task's answers out (persona, dishes) or its years
    (terminator), they are the target dataset's, read from the world."""
    world = load_world_v3()
    persona = world.phenomena["persona"]
    assert isinstance(persona, Persona)
    villain = persona.cast[persona.villain]
    facts = {
        f"{persona.kinds[kind].question} {persona.data['trigger']}": f"[ {value} ]"
        for kind, value in villain.attributes.items()
    }
    trained = set(_target_prompts("persona"))
    for question in _set("persona", "narrow").questions:
        (prompt,) = question.paraphrases
        assert prompt in trained and facts[prompt] == question.metadata["expected"], prompt

    (dishes,) = [s for s in load_spec("organism/dishes").scorers if s.name == "varnia_dish"]
    assert dishes.args.patterns == world.phenomena["dishes"].data["sides"]["varnia"]["dishes"]

    spec = load_spec("organism/terminator")
    years = {int(p.split()[4]) for p in _target_prompts("terminator")}
    assert sorted(years) == spec.narrow.where["year"]
