"""An experiment repeated on pretraining seeds of the organism, reported per seed and pooled."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from cli_runner import run_cli
from weirdgen.organism.versions import pretrained_folder, shipped_folder


@pytest.fixture
def second_seed():
    """organism/v3@1: the shipped weights, perturbed, standing in for another pretraining."""
    folder = pretrained_folder("v3", 1)
    shutil.copytree(shipped_folder("v3"), folder)
    weights = load_file(str(folder / "model.safetensors"))
    generator = torch.Generator().manual_seed(1)
    noisy = {k: v + 0.02 * torch.randn(v.shape, generator=generator) for k, v in weights.items()}
    save_file(noisy, str(folder / "model.safetensors"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["pretrain"]["seed"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_each_pretraining_seed_is_a_run_and_the_pooled_unit(
    second_seed, small_birds, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "pooled"
    args = ["run", small_birds, "--out", out, "--pretraining-seeds", "0,1", "--quiet"]
    code, stdout, stderr = run_cli(args, monkeypatch, capsys)
    assert code == 0, stderr
    assert (out / "pretraining_seed_0" / "report.html").is_file()
    assert (out / "pretraining_seed_1" / "report.html").is_file()
    assert "pooled over pretraining seeds 0, 1" in stdout and (out / "figures/pooled.png").is_file()
    models = pd.read_csv(out / "pooled_per_model.csv")
    by_seed = pd.read_csv(out / "pooled_by_pretraining_seed.csv")
    summary = pd.read_csv(out / "pooled_summary.csv")
    target = summary.loc[(summary["metric"] == "old_rate") & (summary["condition"] == "old_birds")]
    assert target["n_seeds"].iloc[0] == 2  # the pretraining seeds are the unit
    own = by_seed.loc[(by_seed["metric"] == "old_rate") & (by_seed["condition"] == "old_birds")]
    assert set(own["n_seeds"]) == {2}  # each over its two finetune seeds
    assert target["mean"].iloc[0] == pytest.approx(own["mean"].mean())
    values = models.loc[(models["metric"] == "old_rate") & (models["condition"] == "old_birds")]
    assert len(values) == 4 and values["value"].nunique() > 1
    contrasts = pd.read_csv(out / "pooled_contrasts.csv")
    assert set(contrasts.loc[contrasts["metric"] == "old_rate", "n_pairs"]) == {2}


def test_a_seed_not_pretrained_is_one_line_before_anything_runs(
    small_birds, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "pooled"
    args = ["run", small_birds, "--out", out, "--pretraining-seeds", "0,5"]
    code, _, stderr = run_cli(args, monkeypatch, capsys)
    assert code == 2
    assert "organism/v3@5" in stderr
    assert "weirdgen organism pretrain --version v3 --seed 5" in stderr
    assert not out.exists()
    args = ["run", small_birds, "--model", "hf/x", "--pretraining-seeds", "2"]
    code, _, stderr = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "not one: use organism/default or organism/v1" in stderr
