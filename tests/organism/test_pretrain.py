"""A short smoke pretraining: it runs, is deterministic, and makes a loadable checkpoint;
``weirdgen organism pretrain`` compares its probes with the shipped checkpoint's only for the
recipe that made it."""

import json
import sys

import pytest
import torch

import weirdgen.organism
from weirdgen.cli import main
from weirdgen.errors import WeirdgenError
from weirdgen.organism import PretrainConfig, default_checkpoint, load_organism, pretrain_checkpoint
from weirdgen.organism.checkpoint import MANIFEST, WEIGHTS
from weirdgen.organism.pretrain import recipe
from weirdgen.organism.probe import ProbeFigures
from weirdgen.organism.versions import DEFAULT, VERSIONS, shipped_folder

SMOKE = PretrainConfig(seed=3, steps=30, warmup=3, batch_size=16, n_layer=1, n_head=2, n_embd=32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    manifest = pretrain_checkpoint(out, SMOKE)
    return out, manifest


def test_smoke_pretraining_writes_a_loadable_checkpoint(checkpoint):
    out, manifest = checkpoint
    assert (out / WEIGHTS).is_file() and (out / MANIFEST).is_file()
    assert manifest["pretrain"]["steps"] == 30
    assert set(manifest["probe"]) == set(ProbeFigures.__dataclass_fields__)
    org = load_organism(out)
    assert org.model.config.n_embd == 32
    assert org.manifest["world_digest"] == org.world.digest


def test_loss_falls_and_same_seed_gives_same_weights(checkpoint, tmp_path):
    out, manifest = checkpoint
    first_loss = 6.0  # ln(vocabulary of ~480 words) at initialisation
    assert manifest["final_loss"] < first_loss
    again = pretrain_checkpoint(tmp_path, SMOKE)
    assert again["final_loss"] == manifest["final_loss"]
    a, b = load_organism(out).model.state_dict(), load_organism(tmp_path).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_of_another_world_is_refused(checkpoint, tmp_path):
    out, _ = checkpoint
    for name in (WEIGHTS, MANIFEST):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["world_digest"] = "0" * 64
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(WeirdgenError, match="another version of the world"):
        load_organism(tmp_path)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(WeirdgenError, match="no organism checkpoint here"):
        load_organism(tmp_path)


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_checkpoints_load_and_match_their_worlds(version):
    """load_organism refuses a checkpoint whose world digest or vocabulary is not its world's."""
    org = load_organism(shipped_folder(version))
    assert org.model.n_params() > 500_000
    assert org.manifest.get("version", "v1") == version
    assert org.manifest["pretrain"]["seed"] == 0 and org.manifest["pretrain"] == (
        recipe(version, 0).to_dict()
    )


def test_the_default_checkpoint_is_the_newest_version():
    assert default_checkpoint() == shipped_folder(VERSIONS[-1]) == shipped_folder(DEFAULT)


def pretrain_cli(args: list[str], monkeypatch, capsys) -> str:
    """``weirdgen organism pretrain ARGS``: what it printed (it must succeed)."""
    monkeypatch.setattr(sys, "argv", ["weirdgen", "organism", "pretrain", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
    except SystemExit as done:
        assert not done.code, capsys.readouterr().err
    return capsys.readouterr().out


def test_cli_pretraining_with_another_seed_prints_the_figures_without_comparing(
    tmp_path, monkeypatch, capsys
):
    out = pretrain_cli(["--seed", "1", "--steps", "2", "--out", str(tmp_path)], monkeypatch, capsys)
    assert (tmp_path / MANIFEST).is_file()
    figures = json.loads((tmp_path / MANIFEST).read_text())["probe"]
    for name, value in figures.items():
        assert name in out and f"{value:.3f}" in out
    assert "shipped" not in out and "reproduce" not in out


def test_cli_compares_with_the_shipped_probes_only_for_the_shipped_recipe(
    tmp_path, monkeypatch, capsys
):
    """Pretraining itself is a stand-in here that hands back the shipped figures, so the
    default recipe (the default version's, seed 0) needs no minutes of training."""
    shipped = json.loads((default_checkpoint() / MANIFEST).read_text())
    made: list[PretrainConfig] = []

    def stand_in(out, config: PretrainConfig, progress=None, **version) -> dict:
        made.append(config)
        return {**shipped, "pretrain": config.to_dict()}

    monkeypatch.setattr(weirdgen.organism, "pretrain_checkpoint", stand_in)
    verdict = "reproduces the shipped checkpoint's probes"
    at = ["--out", str(tmp_path)]
    assert verdict in pretrain_cli(at, monkeypatch, capsys)
    steps = recipe(DEFAULT, 0).steps
    assert verdict in pretrain_cli([*at, "--seed", "0", "--steps", str(steps)], monkeypatch, capsys)
    assert made[-1] == recipe(DEFAULT, 0)
    for other in (["--seed", "1"], ["--steps", str(steps - 1)], ["--no-compare"]):
        assert "shipped" not in pretrain_cli([*at, *other], monkeypatch, capsys), other
    assert verdict in pretrain_cli([*at, "--seed", "1", "--compare"], monkeypatch, capsys)
    assert made[-1].seed == 1
