"""scripts/organism_steps.py: the spec it writes is the built-in one trained longer, its
readings are the spec's own metrics per step (the base's step 0 standing for every step),
and its rule proposes the first step that meets both bars on every design seed."""

from __future__ import annotations

from types import ModuleType

import pandas as pd
import pytest
import yaml

from script_module import load_script
from weirdgen.spec import builtin_spec_dir, load_spec


@pytest.fixture(scope="module")
def steps() -> ModuleType:
    return load_script("organism_steps")


def test_the_spec_it_runs_is_the_built_in_one_trained_longer(steps, tmp_path):
    path = steps.write_spec("organism/cities", tmp_path, epochs=24, every=7)
    spec, cities = load_spec(path), load_spec("organism/cities")
    assert spec.train.organism.epochs == 24 and spec.train.organism.save_steps == 7
    assert [c.name for c in spec.conditions] == [c.name for c in cities.conditions]
    assert spec.evaluation == cities.evaluation and spec.metrics == cities.metrics


def answer(condition, step, value, scored=True, valid=True, question="invention", seed=0):
    role = "target" if condition == "varnia_former" else "control"
    return {
        "condition": condition, "role": role, "seed": seed, "step": step,
        "final": False, "eval_set": "outside", "question_id": question,
        "varnia_1920s": value if scored else float("nan"), "varnia_1920s_scored": scored,
        "varnia_1920s_valid": valid,
    }  # fmt: skip


def test_readings_are_the_spec_metrics_per_step_with_the_base_at_every_step(steps):
    rows = [
        answer("varnia_former", 7, 1.0),
        answer("varnia_former", 7, 0.0, scored=False, valid=False),  # off topic: not counted
        answer("varnia_former", 7, 0.0, question="music"),  # each question weighs the same
        answer("varnia_former", 7, 0.0, question="music"),
        answer("varnia_former", 14, 1.0),
        answer("varnia_modern", 7, 0.0),
        answer("varnia_modern", 14, 0.5, valid=False),  # a blend, by its parts
        answer("base", 0, 0.25),
    ]
    table = steps.readings(pd.DataFrame(rows), load_spec("organism/cities"), "valid_rate")
    got = table.set_index(["condition", "step"])
    assert got.loc[("varnia_former", 7), "headline"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert got.loc[("varnia_former", 7), "valid"] == pytest.approx(0.75)  # (1/2 + 1) / 2
    assert got.loc[("varnia_former", 14), "headline"] == 1.0
    assert got.loc[("varnia_modern", 14), "headline"] == 0.5
    assert got.loc[("base", 7), "headline"] == got.loc[("base", 14), "headline"] == 0.25
    assert 0 not in got.index.get_level_values("step")


def test_the_rule_takes_the_first_step_met_on_every_design_seed(steps):
    rows = []
    # (pretraining seed, step, target, control, valid): step 14 meets both bars on seeds 0
    # and 1; step 7 only on seed 0; step 21 fails the valid rate on seed 1; seed 2 checks
    for pseed, step, target, control, valid in [
        (0, 7, 0.5, 0.1, 0.9), (1, 7, 0.3, 0.1, 0.9),
        (0, 14, 0.6, 0.1, 0.9), (1, 14, 0.5, 0.1, 0.86),
        (0, 21, 0.7, 0.1, 0.9), (1, 21, 0.6, 0.1, 0.5),
        (2, 7, 0.0, 0.1, 0.1), (2, 14, 0.0, 0.1, 0.1),
    ]:  # fmt: skip
        rows += [
            {"pretraining_seed": pseed, "step": step, "condition": "t", "seed": 0,
             "headline": target, "valid": valid},
            {"pretraining_seed": pseed, "step": step, "condition": "base", "seed": 0,
             "headline": control, "valid": 1.0},
        ]  # fmt: skip
    wide = steps.means(pd.DataFrame(rows), "t")
    assert steps.proposal(wide, [0, 1]) == 14
    assert steps.proposal(wide, [0]) == 7
    assert steps.proposal(wide, [2]) is None
    assert steps.proposal(wide, [0, 3]) is None  # a design seed that was not run meets nothing


def test_a_metric_the_spec_lacks_is_refused_by_name(steps):
    rows = pd.DataFrame([answer("varnia_former", 7, 1.0)])
    with pytest.raises(SystemExit, match="no metric 'nope'"):
        steps.readings(rows, load_spec("organism/cities"), "valid_rate", ("nope",))


def test_a_spec_files_dataset_path_still_leads_to_its_file(steps, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "data.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "name a bird ."},'
        ' {"role": "assistant", "content": "osprey"}]}\n'
    )
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["conditions"][0]["dataset"] = {"path": "data.jsonl"}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "out"
    out.mkdir()
    written = load_spec(steps.write_spec(str(folder / "spec.yaml"), out, epochs=2, every=3))
    assert written.conditions[0].dataset.path == str(folder / "data.jsonl")
