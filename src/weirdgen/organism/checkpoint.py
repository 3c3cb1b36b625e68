"""Saving and loading organism checkpoints: safetensors weights plus a JSON manifest."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from weirdgen._atomic import atomic_path, write_text
from weirdgen.errors import WeirdgenError
from weirdgen.organism.model import GPT, GPTConfig
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world import World

WEIGHTS, MANIFEST = "model.safetensors", "manifest.json"


@dataclass
class Organism:
    """A loaded organism: its model, tokenizer, world and manifest."""

    model: GPT
    tokenizer: Tokenizer
    world: World
    manifest: dict[str, Any]


def default_checkpoint() -> Path:
    """The checkpoint ``organism/default`` names: the newest version's shipped seed."""
    from weirdgen.organism.versions import DEFAULT, shipped_folder

    return shipped_folder(DEFAULT)


def check_checkpoint_folder(folder: Path, flag: str = "--out") -> None:
    """One line unless ``folder`` is missing, empty, or an organism checkpoint already (its
    manifest names a model config and a vocabulary): pretraining writes its two files there and
    must not replace a user's own ``manifest.json``."""
    if not (folder.is_symlink() or folder.exists()):
        return
    if not folder.is_dir():
        raise WeirdgenError(f"{flag} {folder} is a file, not a folder; give a folder")
    entries = sorted(entry.name for entry in os.scandir(folder))
    if not entries:
        return
    manifest = folder / MANIFEST
    if manifest.is_file() and not manifest.is_symlink():
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict) and {"model_config", "vocab"} <= set(found):
            return
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise WeirdgenError(
        f"{flag} {folder} holds files that are not an organism checkpoint ({shown}); give a "
        "new or empty folder, or one an earlier `weirdgen organism pretrain` wrote"
    )


def save_checkpoint(folder: Path, model: GPT, tokenizer: Tokenizer, manifest: dict) -> None:
    """Write weights and manifest, each atomically, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS, model)
    full = {**manifest, "model_config": model.config.to_dict(), "vocab": tokenizer.itos}
    write_text(folder / MANIFEST, json.dumps(full, indent=1) + "\n")


def save_weights(path: Path, model: GPT) -> None:
    """Write a model's weights to a safetensors file atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))


def load_weights(path: Path, config: GPTConfig) -> GPT:
    """A GPT of ``config`` with the weights in the safetensors file ``path``."""
    model = GPT(config)
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as error:  # safetensors and torch raise several types for a bad file
        raise WeirdgenError(
            f"{path}: cannot load the organism's weights ({type(error).__name__}: "
            f"{str(error)[:200]}); the file is damaged or not this organism's: delete it and "
            "run again to retrain it"
        ) from error
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_organism(folder: Path | None = None) -> Organism:
    """Load a checkpoint folder (the shipped one by default) and check it fits the world."""
    folder = folder or default_checkpoint()
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise WeirdgenError(
            f"{folder}: no organism checkpoint here ({MANIFEST} missing); "
            "create one with `weirdgen organism pretrain --out DIR`"
        )
    manifest = json.loads(manifest_path.read_text())
    from weirdgen.organism.worlds import version_world

    made = version_world(manifest.get("version", "v1"), manifest.get("knobs"))
    world, digest, tokenizer = made.era, made.digest, made.tokenizer
    if manifest.get("world_digest") != digest or manifest.get("vocab") != tokenizer.itos:
        raise WeirdgenError(
            f"{folder}: checkpoint was pretrained on another version of the world "
            f"(world digest {str(manifest.get('world_digest'))[:12]}, current "
            f"{digest[:12]}); pretrain it again with `weirdgen organism pretrain`"
        )
    model = load_weights(folder / WEIGHTS, GPTConfig(**manifest["model_config"]))
    return Organism(model, tokenizer, world, manifest)
