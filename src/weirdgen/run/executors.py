"""Executors: where a run's units (finetunes, each model's sampling, judge calls) are computed.

``local`` (the default) computes them in the run's own process, as weirdgen always has.
``ray`` fans them out as tasks of a Ray cluster (``ray`` starts a local one; ``ray:ADDRESS``
joins a running one, e.g. ``ray:auto`` or ``ray:10.0.0.5:6379``). Either way the store and
the run folder are written only by the run's own process (the driver): workers return
weights and answers, the driver stores them as they arrive, so a killed driver resumes
from what was stored and a unit retried on another worker gives the same result.

Judging too: the judge calls the judge cache lacks go to the workers in parts, and their
replies come back to the driver, which alone writes them into the judge cache (in the model
registry) and the scores into the store. Rule scorers, and the judges' values read from the
replies, stay with the driver: they are quick.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

from weirdgen.backends import Backend
from weirdgen.errors import WeirdgenError
from weirdgen.run.units import Drawn, JudgeUnit, Outcome, SampleUnit, Trained, TrainUnit

SAMPLES_IN_PROCESS = {"organism", "hf"}
"""Backends whose sampling runs in the process that calls them, so it can move to a worker.
The others sample through a server or an API the driver reaches (vllm serves every adapter
from one server), so their sampling stays with the driver."""

JUDGES_ON_WORKERS = SAMPLES_IN_PROCESS | {"openai"}
"""Backends whose judge calls can run on a worker: a judge model loaded in the worker's
process, or an ``openai/`` endpoint the worker calls with the driver's URL and key. A judge
on vllm (its server is the driver's), tinker or a plug-in backend is asked by the driver."""

USAGE = "write local, ray (a local Ray cluster) or ray:ADDRESS (e.g. ray:auto, ray:10.0.0.5:6379)"


class ExecutorChoice(NamedTuple):
    """An executor as a spec or ``--executor`` names it."""

    kind: str
    """``local`` or ``ray``."""
    address: str | None = None
    """The Ray cluster to join (``ray:ADDRESS``); None starts a local one."""


def parse_executor(text: str) -> ExecutorChoice:
    """``local``, ``ray`` or ``ray:ADDRESS`` as an :class:`ExecutorChoice`.

    Raises:
        ValueError: anything else (the message says what to write).
    """
    kind, colon, address = text.strip().partition(":")
    if kind == "local" and not colon:
        return ExecutorChoice("local")
    if kind == "ray" and (not colon or address.strip()):
        return ExecutorChoice("ray", address.strip() or None)
    raise ValueError(f"{text!r}: {USAGE}")


class Executor(Protocol):
    """Runs units somewhere else than the driver and hands their outcomes back to it."""

    name: str

    def trains(self, backend: Backend) -> bool:
        """Whether this executor runs ``backend``'s finetunes (else the driver does)."""
        ...

    def samples(self, backend: Backend) -> bool:
        """Whether this executor runs ``backend``'s sampling (else the driver does)."""
        ...

    def train(self, model: str, units: Sequence[TrainUnit]) -> Iterator[tuple[int, Outcome]]:
        """Finetune every unit with the backend of ``model``: (index in ``units``, outcome)
        in the order they finish."""
        ...

    def sample(self, model: str, units: Sequence[SampleUnit]) -> Iterator[tuple[int, Outcome]]:
        """Draw every unit with the backend of ``model``, in the order they finish."""
        ...

    def judges(self, backend: Backend) -> bool:
        """Whether this executor runs the calls of a judge on ``backend`` (else the driver
        sends them)."""
        ...

    def slots(self, model: str) -> int:
        """How many units of ``model``'s backend can run at once."""
        ...

    def judge(self, units: Sequence[JudgeUnit]) -> Iterator[tuple[int, Outcome]]:
        """Ask every unit's judge its calls, in the order the units finish."""
        ...

    def close(self) -> None:
        """Cancel what is still running and let go of the cluster."""
        ...


def check_executor(choice: ExecutorChoice, backend: Backend, given: bool) -> None:
    """Refuse, before anything is written, an executor that cannot run this run's units.

    Args:
        given: the backend is an object passed in Python, not built from its model name.
    """
    if choice.kind == "local":
        return
    require_ray()
    if given:
        raise WeirdgenError(
            "executor ray builds the backend on each worker from the model name, so a backend "
            "object passed in Python cannot be used; name the model as provider/name (a "
            "plug-in backend through the weirdgen.backends entry point), or run with executor "
            "local"
        )
    if backend.remote_training:
        raise WeirdgenError(
            f"executor ray: backend {backend.name} trains and samples at its provider, so "
            "there is nothing for Ray workers to run; use --executor local"
        )


def require_ray():
    """The ``ray`` module, or one line saying how to install it.

    Ray reads its authentication mode once, when it is first imported. `ray start` turns
    token authentication on by default, and a driver joining such a cluster sends its token
    only in token mode, so where a token is saved and no mode is chosen, token mode is
    chosen here, before the import.
    """
    if "RAY_AUTH_MODE" not in os.environ and saved_ray_token():
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise WeirdgenError(
            'executor ray needs Ray, which is not installed: pip install "weirdgen[ray]"'
        ) from None
    return ray


def saved_ray_token() -> bool:
    """Ray's authentication token is set, or saved where Ray looks for it."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(path)


def open_executor(choice: ExecutorChoice) -> Executor | None:
    """The executor ``choice`` names, connected; None for local (the driver computes)."""
    if choice.kind == "local":
        return None
    from weirdgen.run.ray_executor import RayExecutor

    return RayExecutor(choice.address)


__all__ = [
    "Drawn",
    "Executor",
    "ExecutorChoice",
    "JudgeUnit",
    "Outcome",
    "SampleUnit",
    "TrainUnit",
    "Trained",
    "check_executor",
    "open_executor",
    "parse_executor",
]
