"""Organism checkpoints by name: versions, pretraining seeds, and where they live."""

from __future__ import annotations

import json
import shutil

import pytest

from cli_runner import run_cli
from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError
from weirdgen.organism.versions import (
    parse_name,
    pretrained_folder,
    pretrained_seeds,
    resolve,
    shipped_folder,
)


def test_names_resolve_to_the_shipped_checkpoint_or_a_pretrained_seed():
    assert parse_name("default") == ("v3", 0) and parse_name("v1@3") == ("v1", 3)
    assert parse_name("some/folder") is None and resolve("some/folder") is None
    assert resolve("v3").folder == resolve("default").folder == shipped_folder("v3")
    assert resolve("v2").folder == shipped_folder("v2") != shipped_folder("v3")
    assert resolve("v1").folder == shipped_folder("v1") != shipped_folder("v2")
    assert resolve("v1@0").folder == shipped_folder("v1")
    with pytest.raises(WeirdgenError, match=r"seed 2 of v1 is not pretrained yet.*--seed 2"):
        resolve("v1@2")
    with pytest.raises(WeirdgenError, match="no organism version 'v9'"):
        resolve("v9")
    shutil.copytree(shipped_folder("v1"), pretrained_folder("v1", 2))
    assert resolve("v1@2").folder == pretrained_folder("v1", 2)
    assert pretrained_seeds("v1") == [0, 2]
    assert OrganismBackend("v1@2").checkpoint == pretrained_folder("v1", 2)


def test_organism_list_and_pretrain_refusing_a_seed_already_there(monkeypatch, capsys):
    shutil.copytree(shipped_folder("v1"), pretrained_folder("v1", 4))
    shutil.copytree(shipped_folder("v3"), pretrained_folder("v3", 4))
    code, out, _ = run_cli(["organism", "list"], monkeypatch, capsys)
    assert code == 0 and "organism/v1@0" in out and "organism/v1@4" in out
    assert "organism/v2@0" in out and "organism/v2@0 (organism/default)" not in out
    assert "organism/v3@0 (organism/default)" in out and "organism/v3@4" in out
    code, _, err = run_cli(["organism", "pretrain", "--seed", "4"], monkeypatch, capsys)
    assert code == 2 and "organism/v3@4 is already pretrained" in err
    args = ["organism", "pretrain", "--version", "v1", "--seed", "4"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "organism/v1@4 is already pretrained" in err


def test_data_of_a_newer_world_on_an_older_checkpoint_names_the_version(tmp_path):
    """The terminator's data on organism/v1: the unknown words, and that v1 is the cause."""
    from weirdgen.data.generators import generate
    from weirdgen.data.jsonl import load_chat_jsonl

    path = tmp_path / "warden.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in generate("warden_dated", 3)))
    dataset = load_chat_jsonl(path)
    OrganismBackend("v2").check_dataset(dataset, "warden")
    with pytest.raises(WeirdgenError, match=r"outside the organism's vocabulary.*organism/v1: "):
        OrganismBackend("v1").check_dataset(dataset, "warden")
