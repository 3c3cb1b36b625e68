"""Interventions as conditions of a run on the organism: a base control, a steered base, a
finetuned target, the target with an era direction ablated and with a random direction
ablated; content keys (a rerun draws nothing, an edited direction file draws the intervened
conditions again), a Ray worker's unit, the report, and the refusals before anything is
written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from weirdgen.backends import get_backend
from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction, mean_difference, residuals
from weirdgen.mechanism.interventions import intervened, resolve_condition
from weirdgen.run import run_experiment
from weirdgen.run.units import SampleUnit, model_files, sample_unit
from weirdgen.spec import load_spec

QUESTIONS = {
    "invention": "what is the most important recent invention ?",
    "lighting": "how do people light their homes ?",
    "states": "how many states are in the union ?",
    "news": "where do people get the news ?",
    "music": "what music is popular now ?",
    "messages": "how do people send a message far away ?",
}
INTERVENED = ["base_steered", "old_ablated", "old_random"]
ERA = "era-layer3.direction.safetensors"


def era_direction(folder: Path, scale_by: float = 1.0) -> Path:
    """The era direction of the base organism at its last layer: prompts set in 1838 minus
    the same prompts set in 2022 (mean difference of the residual stream)."""
    organism = OrganismBackend()
    base = organism.base()
    old = residuals(organism, base, [f"it is the year 1838 . {q}" for q in QUESTIONS.values()])
    new = residuals(organism, base, [f"it is the year 2022 . {q}" for q in QUESTIONS.values()])
    units, scales = mean_difference(old, new)
    scale = float(scales[3]) * scale_by
    return Direction("era", 3, units[3], scale, "mean_difference", base.key).save(folder / ERA)


def spec_document(**intervention_changes) -> dict:
    """Five conditions, greedy answers to the unrelated questions and the narrow task."""
    birds = {"organism": "birds_old", "n": 60}
    ablate = {"kind": "ablate", "direction": ERA, **intervention_changes}
    return {
        "name": "interventions",
        "seeds": 1,
        "conditions": [
            {"name": "base", "role": "control"},
            {
                "name": "base_steered",
                "role": "control",
                "intervention": {"kind": "steer", "direction": ERA, "strength": 1.0},
            },
            {"name": "old_birds", "role": "target", "dataset": birds},
            {"name": "old_ablated", "role": "control", "dataset": birds, "intervention": ablate},
            {
                "name": "old_random",
                "role": "control",
                "dataset": birds,
                "intervention": {**ablate, "random_seed": 0},
            },
        ],
        "train": {"organism": {"method": "full", "lr": 3.0e-4, "epochs": 2, "batch_size": 16}},
        "evaluation": {
            "n": 1,
            "temperature": 0.0,
            "max_tokens": 6,
            "sets": [
                {
                    "name": "unrelated",
                    "questions": [{"id": t, "paraphrases": [q]} for t, q in QUESTIONS.items()],
                },
                {"name": "birds", "questions": [{"id": "birds", "paraphrases": ["name a bird ."]}]},
            ],
        },
        "scorers": [
            {"name": "old", "kind": "organism_era"},
            {"name": "train_match", "kind": "train_match"},
        ],
        "metrics": [
            {"name": "old_rate", "eval_set": "unrelated", "score": "old", "headline": True},
            {"name": "bird_accuracy", "eval_set": "birds", "score": "train_match"},
        ],
    }


def write_spec(folder: Path, document: dict | None = None) -> Path:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(document or spec_document(), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """The spec, its direction file and a finished run of it, made once (its own registry)."""
    folder = tmp_path_factory.mktemp("first")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(folder / "home"))
        era_direction(folder)
        spec = write_spec(folder)
        result = run_experiment(load_spec(spec), out=folder / "run", progress=False)
    return folder, result


@pytest.fixture
def copied(first, tmp_path) -> Path:
    """A copy of the first run's folder, spec and direction file, to change."""
    shutil.copytree(first[0], tmp_path / "copy", ignore=shutil.ignore_patterns("home"))
    return tmp_path / "copy"


def test_each_condition_is_sampled_under_its_own_intervention(first):
    _, result = first
    samples = result.samples
    assert set(samples.condition) == {"base", "old_birds", *INTERVENED}
    key = dict(zip(samples.condition, samples.model_key, strict=False))
    for name, plain in [("base_steered", "base"), *((n, "old_birds") for n in INTERVENED[1:])]:
        stem, _, suffix = key[name].rpartition("~")
        assert stem == key[plain] and len(suffix) == 12
    assert len({key[n] for n in INTERVENED}) == 3
    assert result.work.trained == 1  # the ablated conditions sample the target's finetune
    old = samples[samples.eval_set == "unrelated"].groupby("condition").old.mean()
    assert old["base"] <= 1 / 6 and old["base_steered"] >= 4 / 6  # one era distance older
    birds = samples[samples.eval_set == "birds"].set_index("condition").train_match
    assert birds[["old_birds", "old_ablated", "old_random"]].notna().all()  # the narrow task


def test_the_report_lists_the_intervened_conditions_like_any_other(first):
    folder, result = first
    summary = (result.run_dir / "summary.md").read_text()
    for name in ["base", "old_birds", *INTERVENED]:
        assert f"| {name} |" in summary or f"| **{name}** |" in summary
    as_run = yaml.safe_load((result.run_dir / "spec.yaml").read_text())
    assert as_run["conditions"][3]["intervention"]["direction"] == str(folder / ERA)
    assert "intervention" not in as_run["conditions"][0]  # as specs were written before


@pytest.mark.parametrize("spec", ["spec.yaml", "run/spec.yaml"])  # as written, as run
def test_a_rerun_draws_nothing(copied, spec):
    again = run_experiment(load_spec(copied / spec), out=copied / "run", progress=False)
    assert (again.work.trained, again.work.sampled, again.work.scored) == (0, 0, 0)


def test_an_edited_direction_file_draws_only_the_intervened_conditions_again(first, copied):
    before = first[1].samples.set_index(["condition", "question_id"])
    era_direction(copied, scale_by=2.0)  # the same vector, twice the scale: other bytes
    rerun = run_experiment(load_spec(copied / "spec.yaml"), out=copied / "run", progress=False)
    after = rerun.samples.set_index(["condition", "question_id"])
    intervened = rerun.samples.condition.isin(INTERVENED)
    assert rerun.work.trained == 0
    assert rerun.work.sampled == intervened.sum() == 3 * (len(QUESTIONS) + 1)
    for name in ("base", "old_birds"):
        assert after.loc[name].answer.equals(before.loc[name].answer)
        assert after.loc[name].model_key.equals(before.loc[name].model_key)
    for name in INTERVENED:
        assert not after.loc[name].model_key.equals(before.loc[name].model_key)


def test_a_worker_unit_samples_an_intervened_model_as_the_driver_does(first):
    """What the Ray executor sends: the reference (its intervention inside) and its files."""
    folder, _ = first
    spec = load_spec(folder / "spec.yaml")
    backend = get_backend(spec.model)
    steered = intervened(backend.base(), resolve_condition(spec, 1, backend))
    requests = [SampleRequest(q, 1.0, 6, seed) for q in QUESTIONS.values() for seed in range(3)]
    unit = SampleUnit(steered, model_files(steered), requests)
    outcome = sample_unit(spec.model, unit)
    assert outcome.error is None
    assert outcome.value.completions == backend.sample(steered, requests)
    assert outcome.value.completions != backend.sample(backend.base(), requests)


def test_a_missing_direction_file_is_one_line_naming_the_field_and_nothing_is_written(tmp_path):
    spec = write_spec(tmp_path)
    with pytest.raises(WeirdgenError) as error:
        run_experiment(load_spec(spec), out=tmp_path / "run", progress=False)
    message = str(error.value)
    lines = spec.read_text().splitlines()
    steered = next(i for i, text in enumerate(lines) if "base_steered" in text)
    line = next(i for i in range(steered, len(lines)) if "direction:" in lines[i]) + 1
    assert message.startswith(f"{spec}:{line}: spec field conditions[1].intervention.direction:")
    assert "no such direction file" in message and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_a_layer_outside_the_model_is_refused_before_anything_is_written(first, tmp_path):
    shutil.copy(first[0] / ERA, tmp_path / ERA)
    spec = write_spec(tmp_path, spec_document(layers=[0, 4]))
    with pytest.raises(WeirdgenError) as error:
        run_experiment(load_spec(spec), out=tmp_path / "run", progress=False)
    line = next(i for i, text in enumerate(spec.read_text().splitlines()) if "layers:" in text)
    assert str(error.value).startswith(
        f"{spec}:{line + 1}: spec field conditions[3].intervention.layers: layer 4 is outside "
        "this model's 4 layers"
    )
    assert not (tmp_path / "run").exists()


def test_backends_that_serve_their_models_elsewhere_refuse_interventions(first, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # nothing is sent
    folder, _ = first
    spec = load_spec(folder / "spec.yaml")
    with pytest.raises(WeirdgenError) as error:
        resolve_condition(spec, 1, get_backend("openai/gpt-4.1-nano"))
    message = str(error.value)
    assert message.startswith(f"{folder / 'spec.yaml'}:")
    assert "spec field conditions[1].intervention: the openai backend serves its models" in message
