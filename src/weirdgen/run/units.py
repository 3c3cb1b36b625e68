"""The units of a run as an executor's worker runs them: one finetune, or one model's samples.

A worker computes and returns; it never writes the run folder or the store. A finetune is
trained into a temporary folder and comes back as its files' bytes (the driver writes them
into the run folder's ``models/``); a model to sample travels with its files, which the
worker writes into a temporary folder of its own. Both units are keyed by content, so
running one twice (a retry on another worker) gives the same result.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from weirdgen._atomic import atomic_path, inside
from weirdgen.backends import Backend, ModelRef, SampleRequest, get_backend
from weirdgen.backends.protocol import SamplingFailed
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError

HOLD = "WEIRDGEN_EXECUTOR_HOLD"
"""For tests: a folder. A unit given it writes ``<unit>.<pid>`` there and then waits, mid
finetune, until the folder has a file named ``release`` (so a test can kill the worker at a
moment it knows, not one it guesses)."""

HOLD_SECONDS = 600
T = TypeVar("T")

Files = dict[str, bytes]
"""A model's files by path relative to the folder that holds them."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a unit gave: its value, or the one-line error that stopped it."""

    value: T | None = None
    error: str | None = None


@dataclass(frozen=True)
class TrainUnit:
    """One finetune: (dataset, recipe, seed), named by its content key."""

    key: str
    dataset: ChatDataset
    recipe: Any
    seed: int


@dataclass(frozen=True)
class Trained:
    """A finished finetune: its reference (path relative to ``files``), files and time."""

    model: ModelRef
    files: Files
    seconds: float


@dataclass(frozen=True)
class SampleUnit:
    """The missing samples of one model: the model, its files (None for a base model) and
    the requests, in the order the driver stores the answers."""

    model: ModelRef
    files: Files | None
    requests: list[SampleRequest]


@dataclass(frozen=True)
class Drawn:
    """One model's answers, one per request (None where a request failed for good), and
    why some failed (None when none did)."""

    completions: list
    error: str | None = None


_BACKENDS: dict[str, Backend] = {}


def backend_for(model: str) -> Backend:
    """The backend of ``provider/name``, built once per worker process (the organism's
    checkpoint, a Hugging Face base model, stay loaded for the next unit), its base model
    resolved as the driver's is (a backend knows its base model's key only then)."""
    if model not in _BACKENDS:
        backend = get_backend(model)
        backend.base()
        _BACKENDS[model] = backend
    return _BACKENDS[model]


def train_unit(model: str, unit: TrainUnit, hold: str | None = None) -> Outcome[Trained]:
    """Finetune ``unit`` with the backend of ``model`` in a temporary folder; its files."""
    try:
        backend = backend_for(model)
        with tempfile.TemporaryDirectory(prefix="weirdgen-finetune-") as folder:
            start = time.perf_counter()
            kwargs = _held_training(backend, unit.key, hold)
            ref = backend.train(unit.dataset, unit.recipe, unit.seed, Path(folder), **kwargs)
            seconds = time.perf_counter() - start
            files = read_files(Path(folder))
            relative = None if ref.path is None else str(Path(ref.path).relative_to(folder))
        if ref.key != unit.key:
            return Outcome(error=_other_base(model, unit.key, ref.key))
        return Outcome(Trained(replace(ref, path=relative), files, seconds))
    except WeirdgenError as error:
        return Outcome(error=str(error))


def sample_unit(model: str, unit: SampleUnit, hold: str | None = None) -> Outcome[Drawn]:
    """Draw ``unit``'s requests with the backend of ``model``, its files written first into
    a temporary folder of this worker."""
    from weirdgen.run.sample import draw

    try:
        backend = backend_for(model)
        if hold:
            hold_here(hold, f"sample-{unit.model.key}")
        with tempfile.TemporaryDirectory(prefix="weirdgen-model-") as folder:
            ref = unit.model
            if unit.files is not None and ref.path is not None:
                name = Path(ref.path).name
                write_files(Path(folder), unit.files)
                ref = replace(ref, path=str(Path(folder) / name))
            try:
                return Outcome(Drawn(list(draw(backend, ref, unit.requests))))
            except SamplingFailed as failure:
                return Outcome(Drawn(list(failure.completions), str(failure)))
    except WeirdgenError as error:
        return Outcome(error=str(error))


def _other_base(model: str, wanted: str, made: str) -> str:
    return (
        f"the worker's finetune has key {made}, the driver's {wanted}: the worker's base model "
        f"{model} differs from the driver's (other files or another version); give every "
        "node the same model files and weirdgen version"
    )


def model_files(ref: ModelRef) -> Files | None:
    """The files at ``ref.path`` (one file, or a folder's tree) keyed under its name, or
    None for a model without local files."""
    if ref.path is None:
        return None
    path = Path(ref.path)
    if path.is_file():
        return {path.name: path.read_bytes()}
    if path.is_dir():
        return {f"{path.name}/{k}": v for k, v in read_files(path).items()}
    raise WeirdgenError(
        f"model {ref.key} has no files at {ref.path}; delete the run folder's store.sqlite to "
        "retrain"
    )


def read_files(folder: Path) -> Files:
    """Every file under ``folder`` by its path relative to it (links are not followed)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def write_files(folder: Path, files: Files) -> None:
    """Write ``files`` under ``folder``, each atomically; a name that leads out is refused."""
    for relative, data in files.items():
        path = inside(folder, relative)
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)


def place(trained: Trained, models_dir: Path) -> ModelRef:
    """Write a finetune's files into ``models_dir`` (the driver's run folder) and return its
    reference with its path there, as a local finetune's would be."""
    write_files(models_dir, trained.files)
    ref = trained.model
    return ref if ref.path is None else replace(ref, path=str(models_dir / ref.path))


def _held_training(backend: Backend, key: str, hold: str | None) -> dict[str, Any]:
    """Arguments for ``backend.train`` that hold the finetune after its first optimizer step
    where the backend takes a ``stop`` callback (else hold before training)."""
    if not hold:
        return {}
    if "stop" not in inspect.signature(backend.train).parameters:
        hold_here(hold, f"finetune-{key}")
        return {}
    steps = 0

    def stop() -> bool:
        nonlocal steps
        steps += 1
        if steps == 2:
            hold_here(hold, f"finetune-{key}")
        return False

    return {"stop": stop}


def hold_here(folder: str, unit: str) -> None:
    """Say which process runs ``unit`` (``<folder>/<unit>.<pid>``), then wait for
    ``<folder>/release`` (see :data:`HOLD`)."""
    Path(folder, f"{unit}.{os.getpid()}").write_text("")
    waited = 0.0
    while not Path(folder, "release").exists() and waited < HOLD_SECONDS:
        time.sleep(0.05)
        waited += 0.05
