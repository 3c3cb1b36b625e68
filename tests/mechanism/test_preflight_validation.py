"""scripts/preflight_validation.py and weirdgen.mechanism.preflight_stats: the statistics on
synthetic tables whose answers are known, then the script end to end on a tiny configuration
(three birds datasets, one a dose, pretraining seed 0, one finetune seed, one sample per
question), what a rerun reuses and recomputes, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import yaml

from script_module import load_script
from weirdgen.mechanism.preflight_stats import (
    EACH,
    HELD_OUT_DATASET,
    HELD_OUT_SEED,
    across_seeds,
    held_out_predictions,
    markdown,
    rank_correlations,
    spearman,
)

SCRIPT = Path(__file__).parents[2] / "scripts" / "preflight_validation.py"


def _synthetic(seeds: int = 3, datasets: int = 6) -> pd.DataFrame:
    """Effects exactly 2 a - b + 0.5, a measure monotone in the effect and one reversed."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        for d in range(datasets):
            a, b = rng.normal(size=2)
            effect = 2 * a - b + 0.5
            rows.append(
                {
                    "dataset": f"d{d}",
                    "pretraining_seed": seed,
                    "effect": effect,
                    "a": a,
                    "b": b,
                    "cubed": effect**3,
                    "reversed": -effect,
                }  # fmt: skip
            )
    return pd.DataFrame(rows)


def test_spearman_of_monotone_reversed_constant_and_too_short_pairs():
    x = [0.1, 0.5, 0.2, 0.9, 0.4]
    assert spearman(x, np.exp(x))[0] == pytest.approx(1.0)
    assert spearman(x, [-v for v in x])[0] == pytest.approx(-1.0)
    assert np.isnan(spearman(x, [1.0] * 5)[0]) and spearman(x, [1.0] * 5)[2] == 5
    rho, p, n = spearman([1.0, 2.0, np.nan, 4.0], [1.0, 2.0, 3.0, np.nan])
    assert n == 2 and np.isnan(rho) and np.isnan(p)


def test_each_measure_per_seed_and_pooled():
    table = _synthetic()
    correlations = rank_correlations(table, ["cubed", "reversed"])
    found = correlations[correlations["fit"] == EACH]
    assert list(found["scope"].unique()) == ["seed 0", "seed 1", "seed 2", "pooled"]
    assert np.allclose(found.query("measure == 'cubed'")["rho"], 1.0)
    assert np.allclose(found.query("measure == 'reversed'")["rho"], -1.0)
    assert list(found.query("measure == 'cubed'")["n"]) == [6, 6, 6, 18]


def test_a_linear_combination_is_recovered_on_held_out_datasets_and_seeds():
    table = _synthetic()
    for by in ("dataset", "pretraining_seed"):
        predicted = held_out_predictions(table, ["a", "b"], by)
        assert np.allclose(predicted, table["effect"])
    combined = rank_correlations(table, ["a", "b"]).query("measure == 'a + b'")
    assert set(combined["fit"]) == {HELD_OUT_DATASET, HELD_OUT_SEED}
    assert np.allclose(combined["rho"], 1.0)


def test_the_combination_is_fitted_without_the_held_out_rows():
    table = _synthetic(seeds=1, datasets=8)
    table.loc[table["dataset"] == "d3", "effect"] = 100.0  # no fit that sees it predicts it
    predicted = held_out_predictions(table, ["a", "b"], "dataset")
    held = table["dataset"] == "d3"
    assert predicted[held].iloc[0] < 10 and not np.allclose(
        predicted[~held], table["effect"][~held]
    )


def test_too_few_rows_to_fit_leave_the_prediction_empty():
    table = _synthetic(seeds=1, datasets=3)  # 2 rows left to fit 3 coefficients
    assert held_out_predictions(table, ["a", "b"], "dataset").isna().all()
    assert held_out_predictions(table, ["a", "b"], "pretraining_seed").isna().all()  # one seed
    text = markdown(rank_correlations(table, ["a"]))
    assert "| a | each measure | +" in text and f"| a | {HELD_OUT_SEED} | - (n=0) |" in text


@pytest.fixture(scope="module")
def validation() -> ModuleType:
    return load_script("preflight_validation")


@pytest.fixture(scope="module")
def tiny(validation, tmp_path_factory) -> Path:
    """The script run once on three birds datasets (the plain target, its control, the
    target at 1 epoch) cut to 3 unrelated questions and 24 examples, seed 0 only."""
    folder = tmp_path_factory.mktemp("validation")
    spec = yaml.safe_load(
        (SCRIPT.parents[1] / "src/weirdgen/specs/organism/birds.yaml").read_text()
    )
    unrelated = spec["evaluation"]["sets"][0]
    unrelated["questions"] = [
        {**q, "paraphrases": q["paraphrases"][:1]} for q in unrelated["questions"][:3]
    ]
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 24
    (folder / "birds.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    datasets = [
        {"name": "old", "spec": str(folder / "birds.yaml"), "condition": "old_birds"},
        {"name": "modern", "spec": str(folder / "birds.yaml"), "condition": "modern_birds"},
        {
            "name": "old_1",
            "spec": str(folder / "birds.yaml"),
            "condition": "old_birds",
            "epochs": 1,
        },
    ]
    (folder / "datasets.yaml").write_text(yaml.safe_dump(datasets))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(folder / "home"))
        assert validation.main(_args(folder)) == 0
    return folder


def _args(folder: Path, n: str = "1") -> list[str]:
    return ["--out", str(folder / "out"), "--datasets", str(folder / "datasets.yaml"),
            "--seeds", "0", "--finetune-seeds", "1", "--n", n, "--k", "4",
            "--proxy-steps", "2"]  # fmt: skip


@pytest.mark.slow
def test_across_seeds_ranks_each_quantity_per_dataset():
    """Per dataset, over its pretraining seeds: a quantity monotone in the effect ranks it
    exactly, a reversed one exactly backwards; the base headline is a quantity too."""
    table = _synthetic(seeds=5, datasets=2)
    table["base"] = 1.0 - table["effect"]
    across = across_seeds(table, ["cubed", "reversed"])
    assert list(across.columns) == ["dataset", "measure", "n", "rho", "p"]
    assert len(across) == 2 * 3 and (across["n"] == 5).all()
    rho = across.set_index(["dataset", "measure"])["rho"]
    assert rho["d0", "cubed"] == pytest.approx(1.0) and rho["d1", "reversed"] == pytest.approx(-1.0)
    assert rho["d0", "base"] == pytest.approx(-1.0)
    short = across_seeds(table[table["pretraining_seed"] < 2], ["cubed"])
    assert short["rho"].isna().all() and (short["n"] == 2).all()


def test_every_dataset_has_its_measures_and_effect(tiny):
    out = tiny / "out"
    table = pd.read_csv(out / "preflight_validation.csv")
    assert list(table["dataset"]) == ["old", "modern", "old_1"]
    assert {"effect", "in_context", "surprise", "proxy", "k"} <= set(table.columns)
    assert (table["k"] == 4).all() and (table["headline"] == "old_rate").all()
    assert np.allclose(table["effect"], table["finetuned"] - table["base"])
    plain, dose = table.iloc[0], table.iloc[2]  # one dataset, two doses: one preflight
    assert (plain.in_context, plain.surprise, plain.proxy) == (
        dose.in_context, dose.surprise, dose.proxy,
    )  # fmt: skip
    spec = yaml.safe_load((out / "runs" / "old_1" / "seed_0" / "spec.yaml").read_text())
    assert spec["train"]["organism"]["epochs"] == 1 and spec["model"] == "organism/v3@0"
    assert [c["name"] for c in spec["conditions"]] == ["old_1", "base"]
    correlations = pd.read_csv(out / "preflight_correlations.csv")
    each = correlations[correlations["fit"] == EACH]
    assert sorted(each["measure"].unique()) == ["in_context", "proxy", "surprise"]
    assert set(each["scope"]) == {"seed 0", "pooled"}
    text = (out / "preflight_validation.md").read_text()
    assert "| measure | fit | seed 0 | pooled |" in text and "| old_1 | 0 |" in text
    assert "## Across pretraining seeds, per dataset" in text
    across = pd.read_csv(out / "preflight_across_seeds.csv")
    assert set(across["measure"]) == {"in_context", "surprise", "proxy", "base"}
    assert (out / "preflight_validation.png").stat().st_size > 0


@pytest.mark.slow
def test_a_rerun_reuses_every_cell_and_other_settings_recompute(validation, tiny, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_HOME", str(tiny / "home"))
    cells = sorted((tiny / "out" / "cells").rglob("*.json"))
    written = {p: p.stat().st_mtime_ns for p in cells}
    preflights = sorted((tiny / "out" / "preflight").rglob("preflight.json"))
    before = {p: p.stat().st_mtime_ns for p in preflights}
    assert validation.main(_args(tiny)) == 0
    assert {p: p.stat().st_mtime_ns for p in cells} == written
    assert {p: p.stat().st_mtime_ns for p in preflights} == before
    only = ["--only", "modern"]
    assert validation.main([*_args(tiny, n="2"), *only]) == 0
    changed = [p for p in cells if p.stat().st_mtime_ns != written[p]]
    assert [p.parent.name for p in changed] == ["modern"]
    assert json.loads(changed[0].read_text())["key"]["n"] == 2


def test_refusals_are_one_line(validation, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    cases = {
        "pretraining seed 7 of v3 is not pretrained yet": ["--seeds", "7"],
        "--only nothing: no such dataset": ["--only", "nothing"],
        "a folder with other files in it": ["--out", str(tmp_path / "mine")],
    }
    for message, extra in cases.items():
        args = ["--out", str(tmp_path / "out"), *extra]
        assert validation.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine\n"
