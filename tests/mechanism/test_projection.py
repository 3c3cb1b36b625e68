"""A finished organism run projected on the era direction: per (condition, seed) shifts that
equal the residual stream read by hand, t intervals over finetune seeds, contrasts paired by
seed, files written, nothing computed on a second projection, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import chat_text
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction, residuals
from weirdgen.mechanism.probe import find_directions
from weirdgen.mechanism.projection import ROW_COLUMNS, project_run, write_projection
from weirdgen.mechanism.store import ActivationStore, run_activations
from weirdgen.spec import builtin_spec_dir

pytestmark = pytest.mark.slow  # one organism run for the module: about 10 s

QUESTIONS = [
    "what is the most important recent invention ?",
    "how do people cross the ocean ?",
    "how do people light their homes ?",
    "what music is popular now ?",
    "where do people get the news ?",
    "what is the best treatment for a fever ?",
]


def small_spec() -> dict:
    """Birds with 2 seeds, 3 unrelated questions and the bird question, 40 examples."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 2
    spec["evaluation"]["n"] = 1
    unrelated, birds = spec["evaluation"]["sets"][:2]
    unrelated["questions"] = unrelated["questions"][:3]
    spec["evaluation"]["sets"] = [unrelated, birds]
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 40
    return spec


def era_direction(layer: int = 3) -> Direction:
    """Old years against new years before the same questions, in the base organism."""
    backend = OrganismBackend()
    old = [f"it is the year {1834 + i} . {q}" for i, q in enumerate(QUESTIONS)]
    new = [f"it is the year {2018 + i} . {q}" for i, q in enumerate(QUESTIONS)]
    pos, neg = (residuals(backend, backend.base(), p, [layer]) for p in (old, new))
    key, info = backend.base().key, {"position": "last"}
    return find_directions("era", pos, neg, "mean_difference", key, [layer], 0.0, 0, info)[0]


@pytest.fixture(scope="module")
def era() -> Direction:
    return era_direction()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, era) -> Path:
    """The small birds run, plus two conditions sampled under an intervention along the era
    direction: the base model steered by one scale, the target with the direction ablated
    at every layer."""
    from weirdgen.run import run_experiment
    from weirdgen.spec import load_spec

    root = tmp_path_factory.mktemp("projection")
    file = era.save(root / "era-layer3")
    spec = small_spec()
    birds = spec["conditions"][0]["dataset"]
    spec["conditions"] += [
        {
            "name": "steered",
            "role": "control",
            "intervention": {"kind": "steer", "direction": str(file), "strength": 1.0},
        },
        {
            "name": "old_ablated",
            "role": "control",
            "dataset": birds,
            "intervention": {"kind": "ablate", "direction": str(file)},
        },
    ]
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    with pytest.MonkeyPatch.context() as patch:  # the module's run keeps its own registry
        patch.setenv("WEIRDGEN_HOME", str(root / "home"))
        run_experiment(load_spec(root / "spec.yaml"), out=root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def projected(finished_run, era):
    return project_run(finished_run, era)


def test_one_row_per_condition_seed_and_eval_set(projected):
    rows = projected.rows
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert len(rows) == 5 * 2 * 2
    assert list(dict.fromkeys(rows["condition"])) == [
        "old_birds",
        "modern_birds",
        "base",
        "steered",
        "old_ablated",
    ]
    assert rows.groupby("eval_set")["n_prompts"].first().to_dict() == {"unrelated": 9, "birds": 3}
    base = rows.loc[rows["condition"] == "base"]
    assert (base["shift"] == 0).all()
    for row in base.itertuples():
        assert row.projection == projected.base[row.eval_set]
    np.testing.assert_allclose(rows["relative_shift"], rows["shift"] / projected.direction.scale)


def test_shift_is_the_residual_stream_read_by_hand(finished_run, projected, era):
    """A finetune's projection: mean over the set's prompts of its residual stream at the
    direction's layer dotted with the unit vector, minus the base model's."""
    from weirdgen.run.plan import prompts
    from weirdgen.spec import load_spec
    from weirdgen.store import Store

    spec = load_spec(finished_run / "spec.yaml")
    asked = [p.messages for p in prompts(spec) if p.eval_set == "birds"]
    chats = list({chat_text(chat): chat for chat in asked}.values())
    backend = OrganismBackend()
    samples = pd.read_parquet(finished_run / "samples.parquet")
    model_key = samples.query("condition == 'old_birds' and seed == 1")["model_key"].iloc[0]
    store = Store(finished_run / "store.sqlite")
    try:
        ref = store.model(model_key)
    finally:
        store.close()
    u = era.vector.double()

    def along(model) -> float:
        return float((residuals(backend, model, chats, [3])[:, 0].double() @ u).mean())

    expected = along(ref) - along(backend.base())
    row = projected.rows.query("condition == 'old_birds' and seed == 1 and eval_set == 'birds'")
    assert float(row["shift"].iloc[0]) == pytest.approx(expected, abs=1e-4)


def test_conditions_sampled_under_an_intervention_are_read_under_it(projected, era):
    """Steered by one scale at the direction's own layer, the base model's stream moves by
    exactly the scale along it; ablated at every layer, the target's has nothing left."""
    rows = projected.rows
    steered = rows.loc[rows["condition"] == "steered", "shift"]
    np.testing.assert_allclose(steered, era.scale, rtol=1e-4)
    ablated = rows.loc[rows["condition"] == "old_ablated", "projection"]
    np.testing.assert_allclose(ablated, 0.0, atol=1e-4)
    plain = rows.loc[rows["condition"] == "old_birds", "projection"]
    assert (plain.abs() > 1.0).all()


def test_summary_is_a_t_interval_over_finetune_seeds(projected):
    rows, summary = projected.rows, projected.summary
    assert list(summary["eval_set"]) == ["unrelated"] * 5 + ["birds"] * 5
    assert list(summary["condition"][:3]) == ["old_birds", "modern_birds", "base"]
    for line in summary.itertuples():
        shifts = rows.query(f"condition == '{line.condition}' and eval_set == '{line.eval_set}'")[
            "shift"
        ].to_numpy()
        assert line.mean_shift == pytest.approx(shifts.mean())
        assert line.n_seeds == 2 and line.interval == "95% Student t, over 2 finetune seeds"
        if line.condition in ("base", "steered"):  # the base model on every seed: no spread
            assert (line.ci_low, line.ci_high) == (line.mean_shift, line.mean_shift)
            continue
        low, high = stats.t.interval(0.95, 1, loc=shifts.mean(), scale=stats.sem(shifts))
        assert (line.ci_low, line.ci_high) == pytest.approx((low, high))


def test_contrasts_pair_target_and_control_by_seed(projected):
    rows, contrasts = projected.rows, projected.contrasts
    assert len(contrasts) == 2 * 4 and set(contrasts["target"]) == {"old_birds"}
    line = contrasts.query("eval_set == 'unrelated' and control == 'modern_birds'").iloc[0]
    unrelated = rows.query("eval_set == 'unrelated'")
    wide = unrelated.pivot(index="seed", columns="condition", values="shift")
    differences = (wide["old_birds"] - wide["modern_birds"]).to_numpy()
    assert line["diff"] == pytest.approx(differences.mean())
    assert bool(line["paired"]) and line["n_pairs"] == 2
    assert line["interval"] == "95% Student t, paired by seed, over 2 finetune seeds"


def test_old_bird_names_move_the_finetune_towards_the_old_era(projected):
    """The era direction separates the target from its modern-name control on the bird
    question, where the finetunes were trained (a large, stable effect on the organism)."""
    birds = projected.contrasts.query("eval_set == 'birds' and control == 'modern_birds'").iloc[0]
    assert birds["ci_low"] > 0


def test_written_files_and_a_second_projection_computes_nothing(finished_run, era, monkeypatch):
    import weirdgen.mechanism.store as store_module

    first = project_run(finished_run, era, run_activations(finished_run))
    folder = write_projection(finished_run, first)
    assert folder == finished_run / "mechanism" / "era-layer3"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["contrasts.csv", "projection.png", "projections.csv", "summary.csv"]
    assert (folder / "projection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (folder / "projections.csv").read_text().partition("\n")[0]
    assert header == ",".join(ROW_COLUMNS)

    def no_model(*args, **kwargs):
        raise AssertionError("a stored activation was computed again")

    monkeypatch.setattr(store_module, "residuals", no_model)
    store = ActivationStore(finished_run / "activations")
    again = project_run(finished_run, era, store)
    assert store.computed == 0 and store.reused == 2 + 5 * 2 * 2
    assert again.rows.equals(first.rows)


def test_direction_of_another_model_is_refused(finished_run, era):
    foreign = Direction("era", 3, era.vector, era.scale, "mean_difference", "organism-elsewhere")
    with pytest.raises(WeirdgenError, match="found in model organism-elsewhere") as raised:
        project_run(finished_run, foreign)
    assert "\n" not in str(raised.value)
    narrow = Direction("era", 3, torch.ones(7) / 7**0.5, 1.0, "mean_difference", era.model)
    with pytest.raises(
        WeirdgenError, match="is 7 wide, the residual stream of organism/default 128"
    ):
        project_run(finished_run, narrow)
    deep = Direction("era", 9, era.vector, era.scale, "mean_difference", era.model)
    with pytest.raises(WeirdgenError, match="layer 9 is outside this model's 4 layers"):
        project_run(finished_run, deep)


def test_folders_that_are_not_finished_runs(tmp_path, era):
    with pytest.raises(WeirdgenError, match="is not a weirdgen run folder"):
        project_run(tmp_path, era)
    pooled = tmp_path / "pooled"
    (pooled / "pretraining_seed_0").mkdir(parents=True)
    with pytest.raises(WeirdgenError, match="one run per pretraining seed"):
        project_run(pooled, era)
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / ".weirdgen-run").write_text("weirdgen run folder\n")
    with pytest.raises(WeirdgenError, match="not a finished run folder"):
        project_run(tmp_path / "started", era)
