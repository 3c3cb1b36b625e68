"""A short smoke pretraining: it runs, is deterministic, and makes a loadable checkpoint."""

import json

import pytest
import torch

from weirdgen.errors import WeirdgenError
from weirdgen.organism import PretrainConfig, load_organism, pretrain_checkpoint
from weirdgen.organism.checkpoint import MANIFEST, WEIGHTS
from weirdgen.organism.probe import ProbeFigures

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


def test_shipped_checkpoint_loads_and_matches_the_world():
    org = load_organism()
    assert org.model.n_params() > 500_000
    assert org.manifest["world_digest"] == org.world.digest
