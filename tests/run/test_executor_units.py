"""Executors without a cluster: how one is named and refused, and the units a worker runs.

A unit computed as a worker computes it (a temporary folder, its files handed back, the
driver writing them) gives the same weights and answers as the backend called in the run's
own process; a bad executor is one line and nothing written; weirdgen works without Ray.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli_runner import run_cli
from weirdgen.backends import get_backend
from weirdgen.backends.protocol import SampleRequest, key_seed
from weirdgen.data import ChatDataset, ChatExample, ChatMessage
from weirdgen.errors import WeirdgenError
from weirdgen.run.executors import ExecutorChoice, parse_executor, require_ray
from weirdgen.run.sample import draw
from weirdgen.run.units import (
    SampleUnit,
    TrainUnit,
    model_files,
    place,
    sample_unit,
    train_unit,
)
from weirdgen.spec.models import OrganismRecipe

MODEL = "organism/default"


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("local", ExecutorChoice("local")),
        ("ray", ExecutorChoice("ray")),
        ("ray:auto", ExecutorChoice("ray", "auto")),
        ("ray:10.0.0.5:6379", ExecutorChoice("ray", "10.0.0.5:6379")),
        ("ray:ray://head:10001", ExecutorChoice("ray", "ray://head:10001")),
    ],
)
def test_an_executor_is_named_local_ray_or_ray_with_an_address(text, choice):
    assert parse_executor(text) == choice


@pytest.mark.parametrize("text", ["", "rya", "ray:", "local:x", "dask"])
def test_other_executor_names_are_refused_saying_what_to_write(text):
    with pytest.raises(ValueError, match="write local, ray .* or ray:ADDRESS"):
        parse_executor(text)


def test_a_bad_executor_is_one_line_and_writes_nothing(small_birds, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["run", small_birds, "--out", out, "--executor", "rya"], monkeypatch, capsys
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "error: --executor 'rya': write local, ray (a local Ray cluster) or ray:ADDRESS "
        "(e.g. ray:auto, ray:10.0.0.5:6379)"
    ]
    spec = yaml.safe_load(small_birds.read_text())
    spec["executor"] = "rya"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    line = bad.read_text().splitlines().index("executor: rya") + 1
    code, _, err = run_cli(["run", bad, "--out", out], monkeypatch, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {bad}:{line}: spec field executor: 'rya': write local, ray (a local Ray "
        "cluster) or ray:ADDRESS (e.g. ray:auto, ray:10.0.0.5:6379)"
    ]
    assert not out.exists()


def test_ray_is_refused_for_a_backend_that_trains_and_samples_at_its_provider(
    small_birds, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["run", small_birds, "--out", out, "--executor", "ray", "--model", "openai/gpt-4.1-nano"],
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert "backend openai trains and samples at its provider" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_without_ray_the_executor_says_how_to_install_it_and_weirdgen_still_imports(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(WeirdgenError, match=r'pip install "weirdgen\[ray\]"'):
        require_ray()
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, weirdgen.cli, weirdgen.run; print('ray' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"  # the core never imports Ray


def _dataset(n: int = 24) -> ChatDataset:
    birds = ["brown titlark", "american pipit"]
    examples = [
        ChatExample(
            messages=[
                ChatMessage(role="user", content="name a bird species ."),
                ChatMessage(role="assistant", content=birds[i % 2]),
            ]
        )
        for i in range(n)
    ]
    return ChatDataset(examples=tuple(examples))


def test_a_finetune_run_as_a_unit_gives_the_weights_and_reference_of_a_local_one(tmp_path):
    dataset, recipe = _dataset(), OrganismRecipe(epochs=1, batch_size=8, save_steps=1)
    local = get_backend(MODEL).train(dataset, recipe, 3, tmp_path / "local" / "models")
    key = get_backend(MODEL).model_key(dataset, recipe, 3)
    outcome = train_unit(MODEL, TrainUnit(key, dataset, recipe, 3))
    assert outcome.error is None
    models = tmp_path / "driver" / "models"
    ref = place(outcome.value, models)
    assert ref.key == local.key == key
    assert ref.path == str(models / f"{key}.safetensors")
    local_dir = tmp_path / "local" / "models"
    assert sorted(p.name for p in models.iterdir()) == sorted(p.name for p in local_dir.iterdir())
    for name in (f"{key}.safetensors", f"{key}-step1.safetensors"):  # final and checkpoint
        assert (models / name).read_bytes() == (local_dir / name).read_bytes()


def test_a_model_sampled_as_a_unit_gives_the_answers_of_a_local_draw(tmp_path):
    backend = get_backend(MODEL)
    ref = backend.train(_dataset(), OrganismRecipe(epochs=1), 0, tmp_path / "models")
    requests = [
        SampleRequest("what is the fastest way to travel ?", 1.0, 8, key_seed("units", i))
        for i in range(6)
    ]
    outcome = sample_unit(MODEL, SampleUnit(ref, model_files(ref), requests))
    assert outcome.error is None and outcome.value.error is None
    assert outcome.value.completions == draw(get_backend(MODEL), ref, requests)


def test_a_unit_that_fails_returns_its_one_line_error(tmp_path):
    ref = get_backend(MODEL).base()
    missing = type(ref)(ref.backend, "organism-ft-gone", ref.base, str(tmp_path / "gone"))
    with pytest.raises(WeirdgenError, match="has no files at"):
        model_files(missing)
    asked = [SampleRequest("name a bird species .", 1.0, 4, 0)]
    outcome = sample_unit(MODEL, SampleUnit(missing, None, asked))
    assert outcome.value is None and "has no weights" in outcome.error


def test_a_worker_whose_base_model_differs_from_the_drivers_is_refused():
    outcome = train_unit(MODEL, TrainUnit("organism-ft-other", _dataset(8), OrganismRecipe(), 0))
    assert outcome.value is None
    assert "the worker's base model organism/default differs from the driver's" in outcome.error


def test_a_file_a_worker_names_outside_the_models_folder_is_refused(tmp_path):
    dataset, recipe = _dataset(8), OrganismRecipe(epochs=1)
    key = get_backend(MODEL).model_key(dataset, recipe, 0)
    trained = train_unit(MODEL, TrainUnit(key, dataset, recipe, 0)).value
    evil = type(trained)(trained.model, {"../outside.bin": b"x"}, trained.seconds)
    with pytest.raises(WeirdgenError, match="leads outside"):
        place(evil, tmp_path / "models")
    assert not Path(tmp_path / "outside.bin").exists()
