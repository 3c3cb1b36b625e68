"""Residual-stream activations kept on disk, so that asking again for the same model, prompts,
layers and position reads a file instead of running the model.

Layout: ``FOLDER/<model key>/<digest>.safetensors`` (the tensor of :func:`residuals`) with
``<digest>.json`` beside it (what it holds: the prompts, the layers, the position, the model's
base and the tensor file's sha256). The digest covers the prompts as the backend renders them
(token ids, chat template included), the layers as asked and the position, so a changed
template or prompt is a new file, never a stale one. A run keeps its activations in
``RUN_DIR/activations`` (:func:`run_activations`).

A file is trusted only when its sidecar parses, names the same request and matches the
tensor's bytes and shape; anything else is computed again with one warning line. The tensor
is written before its sidecar, each atomically, so a killed process leaves an orphan tensor
at worst, which the next call replaces.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from weirdgen._atomic import atomic_path, inside, write_text
from weirdgen.backends.protocol import Chat, ModelRef, chat_text
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.activations import Position, _loaded, encoder, residuals
from weirdgen.mechanism.hooks import n_layers
from weirdgen.mechanism.interventions import split

ACTIVATIONS = "activations"
"""The folder of a run folder that holds its activations."""
FORMAT = 1
"""The sidecar's format version; a sidecar of another version is computed again."""


class ActivationStore:
    """:func:`~weirdgen.mechanism.residuals`, computed once per (model, prompts, layers,
    position) and read from ``folder`` after that.

    Attributes:
        computed: how many tensors this store computed (model forward passes were made).
        reused: how many it read from files instead.
    """

    def __init__(self, folder: Path, warn: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.warn = warn or _warn
        self.computed = 0
        self.reused = 0

    def residuals(
        self,
        backend: Any,
        model: ModelRef,
        prompts: Sequence[Chat | str],
        layers: Sequence[int] | None = None,
        position: Position = "last",
        batch_size: int = 64,
    ) -> torch.Tensor:
        """The residual stream of ``model`` on ``prompts`` at ``layers`` (all when None),
        as :func:`~weirdgen.mechanism.residuals` returns it: (prompts, layers, width).

        A file that holds these prompts at a superset of the layers serves too (sliced).
        """
        if position not in ("last", "mean"):
            raise WeirdgenError(f"position {position!r}: give 'last' or 'mean'")
        asked = None if layers is None else [int(layer) for layer in layers]
        encode = encoder(backend)  # the digest needs token ids, not the model
        prompts_digest = _digest([encode(p) for p in prompts])
        name = _digest([prompts_digest, asked, position])[:24]
        folder = inside(self.folder, model.key)
        fingerprint = _weights_fingerprint(model)
        found = self._exact(folder, name, model, prompts_digest, asked, position, fingerprint)
        if found is None:
            found = self._superset(
                folder, name, model, prompts_digest, asked, position, fingerprint
            )
        if found is not None:
            self.reused += 1
            return found
        values = residuals(backend, model, prompts, asked, position, batch_size)
        with _loaded(backend, split(model)[0]) as (net, _, _):
            total = n_layers(net)
        resolved = list(range(total)) if asked is None else [a % total for a in asked]
        self._write(
            folder,
            name,
            values,
            {
                "format": FORMAT,
                "model": model.key,
                "backend": model.backend,
                "base": model.base,
                "weights": fingerprint,
                "prompts": [chat_text(p) for p in prompts],
                "prompts_digest": prompts_digest,
                "layers_asked": asked,
                "layers": resolved,
                "n_layers": total,
                "position": position,
                "shape": list(values.shape),
            },
        )
        self.computed += 1
        return values

    def _exact(
        self,
        folder: Path,
        name: str,
        model: ModelRef,
        prompts_digest: str,
        asked: list[int] | None,
        position: str,
        fingerprint: str | None,
    ) -> torch.Tensor | None:
        tensor, sidecar = folder / f"{name}.safetensors", folder / f"{name}.json"
        if not tensor.exists() and not sidecar.exists():
            return None
        meta = self._read(sidecar, tensor)
        if meta is None:
            return None
        wanted = (model.key, prompts_digest, asked, position)
        if (meta["model"], meta["prompts_digest"], meta["layers_asked"], meta["position"]) != (
            wanted
        ):
            self.warn(f"{sidecar}: describes other activations than its name says; computed again")
            return None
        if meta.get("weights") != fingerprint:
            self.warn(
                f"{tensor}: the weights of {model.key} changed since these activations were "
                "computed; computed again"
            )
            return None
        return self._load(tensor, meta)

    def _superset(
        self,
        folder: Path,
        name: str,
        model: ModelRef,
        prompts_digest: str,
        asked: list[int] | None,
        position: str,
        fingerprint: str | None,
    ) -> torch.Tensor | None:
        """A file of the same prompts and position whose layers include the asked ones."""
        if asked is None or not folder.is_dir():
            return None
        for sidecar in sorted(folder.glob("*.json")):
            if sidecar.stem == name:
                continue
            meta = _parse(sidecar)
            if (
                meta is None
                or meta["prompts_digest"] != prompts_digest
                or meta["position"] != position
                or meta["model"] != model.key
                or meta.get("weights") != fingerprint
            ):
                continue
            total, held = meta["n_layers"], meta["layers"]
            if not all(-total <= a < total for a in asked):
                continue
            wanted = [a % total for a in asked]
            if not set(wanted) <= set(held):
                continue
            tensor = sidecar.with_suffix(".safetensors")
            checked = self._read(sidecar, tensor)
            if checked is None:
                continue
            values = self._load(tensor, checked)
            if values is not None:
                return values[:, [held.index(w) for w in wanted]]
        return None

    def _read(self, sidecar: Path, tensor: Path) -> dict[str, Any] | None:
        """The sidecar, when it parses and the tensor file's bytes match it; else a warning."""
        meta = _parse(sidecar)
        if meta is None:
            self.warn(f"{sidecar}: missing or not readable; its activations are computed again")
            return None
        if not tensor.is_file() or _file_sha256(tensor) != meta["sha256"]:
            self.warn(
                f"{tensor}: missing or damaged (its bytes do not match {sidecar.name}); its "
                "activations are computed again"
            )
            return None
        return meta

    def _load(self, tensor: Path, meta: dict[str, Any]) -> torch.Tensor | None:
        from safetensors.torch import load_file

        try:
            values = load_file(str(tensor))["residuals"]
        except Exception as error:  # noqa: BLE001 - whatever is wrong, the file is not trusted
            self.warn(f"{tensor}: not readable ({type(error).__name__}); computed again")
            return None
        if list(values.shape) != meta["shape"] or values.dtype != torch.float32:
            self.warn(f"{tensor}: shape or type differ from its sidecar; computed again")
            return None
        return values

    def _write(self, folder: Path, name: str, values: torch.Tensor, meta: dict[str, Any]) -> None:
        from safetensors.torch import save

        data = save({"residuals": values.float().contiguous()})
        tensor = folder / f"{name}.safetensors"
        with atomic_path(tensor) as temporary:
            temporary.write_bytes(data)
        meta["sha256"] = hashlib.sha256(data).hexdigest()
        write_text(folder / f"{name}.json", json.dumps(meta, indent=1) + "\n")


def run_activations(run_dir: Path, warn: Callable[[str], None] | None = None) -> ActivationStore:
    """The activation store of a run folder: ``RUN_DIR/activations`` (a link there that
    leads out of the run folder is refused)."""
    return ActivationStore(inside(Path(run_dir), ACTIVATIONS), warn)


def _weights_fingerprint(model: ModelRef) -> str | None:
    """Size and modification time of a finetune's files (None for a base model, whose key
    already names its content): a finetune retrained under the same key is new weights."""
    if model.path is None:
        return None
    path = Path(model.path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return _digest(parts)[:16]


def _parse(sidecar: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    needed = ("format", "model", "prompts_digest", "layers_asked", "layers", "n_layers")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    if not all(k in meta for k in (*needed, "position", "shape", "sha256")):
        return None
    return meta


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)
