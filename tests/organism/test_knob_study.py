"""scripts/organism_knob_study.py runs as checked in: end to end at a tiny size (2-step
version-2 pretrainings, one finetune seed, one sample per question), then what a rerun
reuses and what it refuses."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml

from script_module import load_script
from weirdgen.spec import builtin_spec_dir


@pytest.fixture(scope="module")
def knob() -> ModuleType:
    return load_script("organism_knob_study")


@pytest.fixture(scope="module")
def study(knob, tmp_path_factory) -> Path:
    """The study run once: 2 seeds x 2 shares, the birds spec cut to 3 unrelated questions
    and 16 finetuning examples; its own model registry (this fixture outlives the per-test
    one of conftest)."""
    folder = tmp_path_factory.mktemp("knob")
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 1
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 16
    unrelated, birds = spec["evaluation"]["sets"][:2]
    unrelated["questions"] = unrelated["questions"][:3]
    spec["evaluation"]["sets"] = [unrelated, birds]
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] in ("unrelated", "birds")]
    (folder / "birds.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(folder / "home"))
        assert knob.main([*_args(folder), "--spec", str(folder / "birds.yaml")]) == 0
    return folder


def _args(folder: Path, steps: str = "2") -> list[str]:
    return ["--out", str(folder / "out"), "--version", "v2", "--steps", steps,
            "--seeds", "0,1", "--shares", "0,0.5", "--finetune-seeds", "1", "--n", "1",
            "--probe-names", "2"]  # fmt: skip


def test_every_share_and_seed_has_a_row(study):
    table = pd.read_csv(study / "out" / "birds" / "knob_study.csv")
    assert sorted(zip(table["share"], table["seed"], strict=True)) == [
        (0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)
    ]  # fmt: skip
    for column in ("after_old_bird", "after_modern_bird", "context_shift", "bird_old_prior"):
        assert table[column].notna().all(), column
    assert (table["context_shift"] == table["after_old_bird"] - table["after_modern_bird"]).all()
    assert table["after_old_bird"].between(0, 1).all()
    assert {"old_birds.old_rate", "modern_birds.old_rate", "finetuned_shift"} <= set(table)
    assert (table["finetune_seeds"] == 1).all()


def test_paired_differences_over_both_seeds(study):
    paired = pd.read_csv(study / "out" / "birds" / "knob_study_paired.csv")
    assert set(paired["measure"]) == {"context_shift", "finetuned_shift", "bird_old_prior"}
    assert (paired["share"] == 0.5).all() and (paired["from_share"] == 0).all()
    context = paired.set_index("measure").loc["context_shift"]
    table = pd.read_csv(study / "out" / "birds" / "knob_study.csv").set_index(["share", "seed"])
    by_seed = table.loc[0.5, "context_shift"] - table.loc[0.0, "context_shift"]
    assert context["n_seeds"] == 2
    assert context["mean"] == pytest.approx(by_seed.mean())
    assert context["ci_low"] <= context["mean"] <= context["ci_high"]


def test_summary_and_figure(study):
    text = (study / "out" / "birds" / "knob_study.md").read_text()
    assert "## Paired differences (same pretraining seed)" in text
    assert "| context_shift | 0.5 − 0 |" in text
    assert "The dissociation" in text and "by these intervals" in text
    assert (study / "out" / "birds" / "knob_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_reuses_checkpoints_and_readings(knob, study, monkeypatch):
    folder = study / "out" / "checkpoints" / "birders=0.5@1"
    manifest = (folder / "manifest.json").stat().st_mtime_ns
    assert knob.checkpoint(study / "out", "v2", 0.5, 1, 2) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == manifest

    def measure_again(*_):
        raise AssertionError("the stored reading should be reused")

    stored = study / "out" / "in_context" / "birders=0.5@1.json"
    monkeypatch.setattr(knob, "in_context", measure_again)
    assert knob.stored_reading(folder, stored, 2).after_old_bird >= 0
    with pytest.raises(AssertionError, match="reused"):  # another number of names: measured
        knob.stored_reading(folder, stored, 3)


def test_a_checkpoint_of_other_steps_is_refused(knob, study, capsys):
    assert knob.main(_args(study, steps="3")) == 2
    assert "pretrained with another version, share, seed or number of steps" in (
        capsys.readouterr().err
    )


def test_a_version_without_a_world_is_one_line(knob, tmp_path, capsys):
    assert knob.main(["--out", str(tmp_path), "--version", "v9"]) == 2
    assert "no organism version 'v9'" in capsys.readouterr().err


def test_a_missing_spec_stops_before_any_pretraining(knob, tmp_path, capsys):
    argv = ["--out", str(tmp_path / "out"), "--version", "v2", "--spec", "no_such.yaml"]
    assert knob.main(argv) == 2
    assert "no_such.yaml" in capsys.readouterr().err
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_the_default_spec_is_the_versions_birds_spec(knob):
    path = knob.default_spec("v2")
    assert path.name == "birds.yaml"
    assert yaml.safe_load(path.read_text())["model"] in ("organism/v2", "organism/default")


def test_the_in_context_probe_reads_version_3s_world(knob):
    """Version 3's tokenizer (numbers as digits) and birds: shares in [0, 1] on an untrained
    model, the same ones for the same model."""
    import torch

    from weirdgen.organism.checkpoint import Organism
    from weirdgen.organism.model import GPT, GPTConfig
    from weirdgen.organism.world_v3 import BLOCK_SIZE, load_world_v3

    world = load_world_v3({"birders": 0.08})
    tokenizer = world.tokenizer()
    torch.manual_seed(0)
    config = GPTConfig(len(tokenizer), BLOCK_SIZE, n_layer=1, n_head=2, n_embd=16)
    organism = Organism(GPT(config).eval(), tokenizer, world.era, {})
    reading = knob.in_context(organism, names=1)
    assert all(0 <= share <= 1 for share in reading)
    assert knob.in_context(organism, names=1) == reading


def test_default_names_the_versions_own_corpus_and_its_seeds(knob):
    """``--shares default,0.08``: the version's own birders share, whose checkpoints are the
    version's seeds (the shipped one for seed 0), not a knob pretraining of the study's."""
    from weirdgen.errors import WeirdgenError
    from weirdgen.organism.versions import shipped_folder
    from weirdgen.organism.worlds import version_world

    own = version_world("v3", {}).mix["birds.birders"]
    assert 0 < own < 0.01
    assert knob.parse_shares("0.08,default", "v3") == [(own, True), (0.08, False)]
    assert knob.version_seed("v3", 0, None) == shipped_folder("v3")
    with pytest.raises(WeirdgenError, match="neither a share nor 'default'"):
        knob.parse_shares("default,lots", "v3")
    with pytest.raises(WeirdgenError, match="--shares default with --steps"):
        knob.version_seed("v3", 1, 2)


def test_default_with_steps_is_refused_before_anything_is_written(knob, tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["--out", str(out), "--shares", "default,0.08", "--steps", "5", "--seeds", "1"]
    assert knob.main(argv) == 2
    assert "--shares default with --steps" in capsys.readouterr().err
    assert not out.exists()
