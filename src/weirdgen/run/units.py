"""The units of a run as an executor's worker runs them: one finetune, one model's samples,
or a part of one judge's calls.

A worker computes and returns; it never writes the run folder, the store or the judge cache.
A finetune is trained into a temporary folder and comes back as its files' bytes (the driver
writes them into the run folder's ``models/``); a model to sample travels with its files,
which the worker writes into a temporary folder of its own; judge calls come back as the
replies the judge cache stores (text, first-token logprobs, token counts). Every unit is
keyed by content, so running one twice (a retry on another worker) gives the same result.
"""

from __future__ import annotations

import inspect
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from weirdgen._atomic import atomic_path, inside
from weirdgen._secret import Redacted
from weirdgen.backends import Backend, ModelRef, SampleRequest, get_backend
from weirdgen.backends.protocol import SamplingFailed
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    from weirdgen.score.judge.calls import Call, Caller, Sent

HOLD = "WEIRDGEN_EXECUTOR_HOLD"
"""For tests: a folder. A unit given it writes ``<unit>.<pid>`` there and then waits, mid
finetune, until the folder has a file named ``release`` (so a test can kill the worker at a
moment it knows, not one it guesses)."""

HOLD_SECONDS = 600
JUDGE_CALLS_PER_UNIT = 256
"""Most judge calls in one unit: a killed driver loses at most the units in flight, and the
replies of every finished unit are in the judge cache."""
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


class Key(Redacted):
    """An API key on its way to a worker: in the task's arguments, which Ray keeps in memory
    only, and never in a repr. (A task's environment variables would be part of its
    ``runtime_env``, which Ray lists in its state API and writes to its agent's log.)"""

    __slots__ = ()


@dataclass(frozen=True)
class Endpoint:
    """An ``openai/`` judge's endpoint as the driver resolved it: the URL, the key from the
    variable the spec names (``api_key_env``, else ``OPENAI_API_KEY``) and the request
    limits, so a worker calls the server the driver would, whatever its own environment."""

    model_id: str
    base_url: str
    key: Key
    concurrency: int
    timeout: float
    max_tries: int
    backoff: float
    max_backoff: float

    def backend(self) -> Backend:
        from weirdgen.backends.openai import OpenAIBackend

        return OpenAIBackend(
            self.model_id,
            base_url=self.base_url,
            api_key=self.key.reveal(),
            max_concurrency=self.concurrency,
            timeout=self.timeout,
            max_tries=self.max_tries,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
        )


@dataclass(frozen=True)
class JudgeUnit:
    """Calls of one judge the cache lacks: the judge's model (``provider/name``), the
    driver's reference to it (whose key is in every call's key), its endpoint where it is
    an ``openai/`` server, else None (the worker loads the model), and the calls."""

    scorer: str
    model: str
    ref: ModelRef
    endpoint: Endpoint | None
    calls: list[Call]


def endpoint_of(backend: Backend, args: Any, at_once: int) -> Endpoint | None:
    """The endpoint of an ``openai/`` judge's ``backend`` (built on the driver from its spec
    entry ``args``), its concurrency shared among the ``at_once`` units that run together
    so the server sees no more requests in flight than from a local run; None for a judge
    of another backend."""
    from weirdgen.backends.openai import KEY_VAR, OpenAIBackend

    if backend.name != "openai" or not isinstance(backend, OpenAIBackend):
        return None
    key = os.environ.get(args.api_key_env or KEY_VAR, "").strip()  # as judge_backend reads it
    return Endpoint(
        backend.model_id,
        backend.base_url,
        Key(key),
        max(1, backend.max_concurrency // max(1, at_once)),
        backend.timeout,
        backend.max_tries,
        backend.backoff,
        backend.max_backoff,
    )


def judge_units(caller: Caller, calls: Sequence[Call], slots: int) -> list[JudgeUnit]:
    """``calls`` of ``caller``'s judge as units: spread evenly over ``slots`` workers, at
    most :data:`JUDGE_CALLS_PER_UNIT` each, in the calls' order."""
    size = min(JUDGE_CALLS_PER_UNIT, math.ceil(len(calls) / max(1, slots)))
    parts = [list(calls[i : i + size]) for i in range(0, len(calls), size)]
    endpoint = endpoint_of(caller.backend, caller.args, min(len(parts), slots))
    model = caller.args.model
    return [JudgeUnit(caller.scorer, model, caller.model, endpoint, part) for part in parts]


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


def judge_unit(unit: JudgeUnit, hold: str | None = None) -> Outcome[Sent]:
    """Ask the judge of ``unit`` its calls: through the driver's endpoint, or with the model
    loaded here (refused where this worker's model is not the driver's)."""
    from weirdgen.score.judge.calls import send_calls

    try:
        backend = unit.endpoint.backend() if unit.endpoint else backend_for(unit.model)
        key = backend.base().key
        if key != unit.ref.key:
            mismatch = _other_base(unit.model, unit.ref.key, key, "judge model")
            return Outcome(error=f"judge {unit.scorer!r}: {mismatch}")
        if hold:
            hold_here(hold, f"judge-{unit.calls[0].key[:12]}")
        return Outcome(send_calls(unit.scorer, backend, unit.ref, unit.calls))
    except WeirdgenError as error:
        return Outcome(error=str(error))


def _other_base(model: str, wanted: str, made: str, what: str = "finetune") -> str:
    return (
        f"the worker's {what} has key {made}, the driver's {wanted}: the worker's base model "
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
