"""Training-step curves: a recipe's save_steps keeps checkpoints, each is sampled with its own
key, the tidy table says which step answered, and the report draws the curve per seed."""

from __future__ import annotations

import json

import pandas as pd

from weirdgen.backends.organism import OrganismBackend
from weirdgen.run import run_experiment
from weirdgen.spec import load_spec


def test_save_steps_samples_every_checkpoint_and_reports_the_curve(tmp_path, write_spec, spec_dict):
    doc = spec_dict(seeds=2)
    doc["evaluation"]["n"] = 2
    doc["evaluation"]["sets"][0]["questions"] = doc["evaluation"]["sets"][0]["questions"][:3]
    doc["conditions"] = doc["conditions"][:1] + doc["conditions"][2:]  # target and base
    plain = run_experiment(load_spec(write_spec(doc)), out=tmp_path / "plain", progress=False)
    doc["train"]["organism"]["save_steps"] = 5
    run = tmp_path / "run"
    result = run_experiment(load_spec(write_spec(doc)), out=run, progress=False)
    frame = result.samples

    # 100 examples, batch 16, 3 epochs: 21 steps, checkpoints after 5, 10, 15 and 20
    target = frame[frame.condition == "old_birds"]
    assert sorted(target.step.unique()) == [5, 10, 15, 20, 21]
    assert set(target[target.final].step) == {21}
    assert set(frame[frame.condition == "base"].step) == {0}
    # the final model is the same finetune as without save_steps (same key, same answers)
    final = target[target.final].drop(columns=["step", "final"])
    before = plain.samples[plain.samples.condition == "old_birds"].drop(columns=["step", "final"])
    keys = ["seed", "question_id", "paraphrase_index", "sample_index"]
    pd.testing.assert_frame_equal(
        final.sort_values(keys).reset_index(drop=True),
        before.sort_values(keys).reset_index(drop=True),
    )
    # one provenance record per finetune: losses of every step, its checkpoints
    records = [json.loads(p.read_text()) for p in (run / "models").glob("*.json")]
    assert len(records) == 2 and all(r["steps"] == 21 == len(r["losses"]) for r in records)
    assert [c["step"] for c in records[0]["checkpoints"]] == [5, 10, 15, 20]
    assert (run / "step_metrics.csv").is_file() and (run / "figures" / "steps.png").is_file()
    steps = pd.read_csv(run / "step_metrics.csv")
    assert {5, 10, 15, 20, 21} <= set(steps.step)
    again = run_experiment(load_spec(write_spec(doc)), out=run, progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)


def test_checkpoints_are_read_from_the_provenance_record(tmp_path):
    from weirdgen.data import ChatExample, dataset_from_examples
    from weirdgen.spec import OrganismRecipe

    backend = OrganismBackend()
    examples = [ChatExample.exchange("name a bird species .", "merlin")] * 8
    recipe = OrganismRecipe(epochs=2, batch_size=4, save_steps=1)
    ref = backend.train(dataset_from_examples(examples), recipe, 0, tmp_path)
    kept = backend.checkpoints(ref)
    assert [c.step for c in kept] == [1, 2, 3, 4] and kept[-1].model == ref
    assert all(c.loss is not None for c in kept)
    assert len({c.model.key for c in kept}) == 4
    assert ref.key == backend.model_key(
        dataset_from_examples(examples), OrganismRecipe(epochs=2, batch_size=4), 0
    )
