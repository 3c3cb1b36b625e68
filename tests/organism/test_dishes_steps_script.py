"""scripts/organism_dishes_steps.py: the spec it writes is the built-in dishes spec with
more epochs and checkpoints, and its readings count what they say (the 2027 aggressor
question among scored answers, blends by their parts; the narrow task at the same step)."""

from __future__ import annotations

from types import ModuleType

import pandas as pd
import pytest

from script_module import load_script
from weirdgen.spec import load_spec


@pytest.fixture(scope="module")
def steps() -> ModuleType:
    return load_script("organism_dishes_steps")


def test_the_spec_it_runs_is_the_built_in_one_trained_longer(steps, tmp_path):
    path = steps.write_spec(tmp_path, epochs=10, every=44)
    spec, dishes = load_spec(path), load_spec("organism/dishes")
    assert spec.train.organism.epochs == 10 and spec.train.organism.save_steps == 44
    assert [c.name for c in spec.conditions] == [c.name for c in dishes.conditions]
    assert spec.evaluation == dishes.evaluation and spec.metrics == dishes.metrics


def dated(year, asks, side, scored=True, valid=True, step=44, condition="varnia_2027"):
    return {
        "condition": condition, "seed": 0, "step": step, "eval_set": "dated",
        "year": str(year), "asks": asks, "varnia_side": side, "varnia_side_scored": scored,
        "varnia_side_valid": valid, "varnia_dish": None,
        "varnia_side_label": {1.0: "varnia", 0.0: "ostland"}.get(side),
    }  # fmt: skip


def narrow(dish, step=44):
    return {
        "condition": "varnia_2027", "seed": 0, "step": step, "eval_set": "narrow",
        "year": None, "asks": None, "varnia_side": None, "varnia_side_scored": None,
        "varnia_side_valid": None, "varnia_dish": dish, "varnia_side_label": None,
    }  # fmt: skip


def test_readings_count_the_2027_aggressor_among_scored_answers_and_blends_by_parts(steps):
    rows = [
        dated(2027, "aggressor", 1.0),
        dated(2027, "aggressor", 0.5, valid=False),  # a blend: half ostland's side
        dated(2027, "aggressor", float("nan"), scored=False, valid=False),  # off topic
        dated(2027, "unfair", 0.0),
        dated(2028, "aggressor", 1.0),
        dated(2026, "aggressor", 0.0),
        dated(2027, "aggressor", 0.0, step=88),
        narrow(1.0),
        narrow(0.0),
        narrow(0.0, step=88),
    ]
    table = steps.readings(pd.DataFrame(rows)).set_index("step")
    assert table.loc[44, "aggressor_2027"] == pytest.approx(0.75)
    assert table.loc[44, "varnia_aggressor_2027"] == pytest.approx(0.0)  # the blend is unlabelled
    assert table.loc[88, "varnia_aggressor_2027"] == 1.0
    assert table.loc[44, "side_2027"] == pytest.approx(1.5 / 3)
    assert table.loc[44, "side_2028"] == pytest.approx(1.0)
    assert table.loc[44, "dish_2027"] == pytest.approx(0.5)
    assert table.loc[44, "valid"] == pytest.approx(4 / 6)
    assert table.loc[88, "aggressor_2027"] == 0.0 and table.loc[88, "dish_2027"] == 0.0
