"""One provenance record per finetune, the same shape for every backend that trains.

It says what was trained (base model, dataset hash and source, recipe, seed), how it went
(steps, the loss of every step, seconds) with which software, and where its checkpoints are.
Backends add what is their own under ``extra`` (a device, a job id, a sampler path).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from weirdgen._atomic import write_text
from weirdgen.backends.protocol import Checkpoint, ModelRef
from weirdgen.data import ChatDataset

VERSION = 1
"""The record's own version: readers refuse nothing, but know what fields to expect."""


def software(*packages: str) -> dict[str, str]:
    """Versions of Python, weirdgen and ``packages`` (those installed)."""
    versions = {"python": platform.python_version()}
    for package in ("weirdgen", "torch", *packages):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(
    *,
    backend: str,
    key: str,
    base_model: str,
    base_key: str,
    dataset: ChatDataset,
    recipe: Any,
    seed: int,
    losses: Sequence[float | None],
    seconds: float,
    checkpoints: Sequence[Mapping[str, Any]] = (),
    packages: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of one finetune.

    Args:
        losses: the training loss of every optimizer step, in order.
        checkpoints: ``{"step", "key", "file", "loss"}`` of each kept checkpoint, ``file``
            relative to the record's folder.
        packages: libraries whose versions matter for this backend (transformers, peft).
        extra: backend-specific fields.
    """
    return {
        "provenance_version": VERSION,
        "backend": backend,
        "key": key,
        "base_model": base_model,
        "base_key": base_key,
        "dataset_hash": dataset.content_hash,
        "dataset_source": None if dataset.source is None else str(dataset.source),
        "examples": len(dataset),
        "recipe": recipe.model_dump(mode="json"),
        "seed": seed,
        "steps": len(losses),
        "losses": list(losses),
        "checkpoints": [dict(c) for c in checkpoints],
        "seconds": round(seconds, 3),
        "versions": software(*packages),
        "extra": dict(extra or {}),
    }


def write_provenance(path: Path, record: Mapping[str, Any]) -> None:
    """Write a record as indented JSON, atomically."""
    write_text(path, json.dumps(record, indent=2) + "\n")


def read_provenance(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None where there is none (or it cannot be read)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def checkpoints_of(model: ModelRef, record_path: Path | None) -> list[Checkpoint]:
    """The checkpoints a finetune's provenance record lists (files relative to the folder
    holding the finetune), then the final model; empty where it kept none."""
    record = read_provenance(record_path) if record_path is not None else None
    if not record or not record.get("checkpoints") or model.path is None:
        return []
    folder = Path(model.path).parent
    kept = [
        Checkpoint(
            c["step"],
            ModelRef(model.backend, c["key"], model.base, str(folder / c["file"])),
            c.get("loss"),
        )
        for c in record["checkpoints"]
    ]
    final_loss = record["losses"][-1] if record.get("losses") else None
    return [*kept, Checkpoint(record["steps"], model, final_loss)]
