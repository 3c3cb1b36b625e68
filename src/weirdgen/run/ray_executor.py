"""The Ray executor: each finetune, each model's sampling and each part of a judge's calls
as a Ray task.

Tasks ask for one CPU (the organism, an ``openai/`` judge) or one GPU where the cluster has
GPUs (every other backend: an ``hf/`` judge loads its model on the GPU), and are retried on
another worker when theirs is lost (``max_retries``): a unit is keyed by content and writes
nothing but a temporary folder, so a retry gives the same result. Outcomes come back to the
driver as they finish; the driver stores them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from weirdgen.backends import Backend
from weirdgen.errors import WeirdgenError
from weirdgen.run.executors import JUDGES_ON_WORKERS, SAMPLES_IN_PROCESS, require_ray
from weirdgen.run.units import (
    HOLD,
    JudgeUnit,
    Outcome,
    SampleUnit,
    TrainUnit,
    judge_unit,
    sample_unit,
    train_unit,
)

ray = require_ray()

CPU_ONLY = {"organism", "openai"}
"""Backends that never use a GPU (an ``openai/`` judge calls a server), whose tasks ask for
a CPU even on a GPU cluster."""

_train_task = ray.remote(train_unit)
_sample_task = ray.remote(sample_unit)
_judge_task = ray.remote(judge_unit)


class RayExecutor:
    """Runs units as tasks of a Ray cluster: a running one at ``address`` (``auto`` finds
    it from ``RAY_ADDRESS`` or this machine), or a local one started here and shut down by
    :meth:`close`. A process already connected to Ray (``ray.init`` called before the run)
    keeps its connection, and :meth:`close` leaves it open.

    Args:
        address: the cluster to join; None starts a local cluster.
        max_retries: how many times a unit whose worker was lost is run again elsewhere.
        gpus_per_unit: GPUs each unit of a GPU backend asks for; None means 1 where the
            cluster has GPUs, else 0.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, max_retries: int = 3, gpus_per_unit: float | None = None
    ) -> None:
        self.address = address
        self.max_retries = max_retries
        self.started = False
        if not ray.is_initialized():
            self._connect()
        self.gpus_per_unit = (
            gpus_per_unit
            if gpus_per_unit is not None
            else (1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0)
        )
        self._running: list[Any] = []

    def _connect(self) -> None:
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address is None:
            options["include_dashboard"] = False
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise WeirdgenError(
                f"executor ray: cannot reach {where} ({type(error).__name__}: {error}); start "
                "one with `ray start --head` and pass its address as --executor ray:ADDRESS"
            ) from None
        self.started = True

    def trains(self, backend: Backend) -> bool:
        return not backend.remote_training

    def samples(self, backend: Backend) -> bool:
        return backend.name in SAMPLES_IN_PROCESS

    def train(self, model: str, units: Sequence[TrainUnit]) -> Iterator[tuple[int, Outcome]]:
        task = _train_task.options(**self._resources(model))
        labels = [f"finetune {u.key}" for u in units]
        return self._gather([task.remote(model, u, os.environ.get(HOLD)) for u in units], labels)

    def sample(self, model: str, units: Sequence[SampleUnit]) -> Iterator[tuple[int, Outcome]]:
        task = _sample_task.options(**self._resources(model))
        labels = [f"sampling {u.model.key}" for u in units]
        return self._gather([task.remote(model, u, os.environ.get(HOLD)) for u in units], labels)

    def judges(self, backend: Backend) -> bool:
        return backend.name in JUDGES_ON_WORKERS

    def slots(self, model: str) -> int:
        gpus = self._gpus(model)
        resource, need = ("GPU", gpus) if gpus else ("CPU", 1.0)
        return max(1, int(ray.cluster_resources().get(resource, 0) // need))

    def judge(self, units: Sequence[JudgeUnit]) -> Iterator[tuple[int, Outcome]]:
        hold = os.environ.get(HOLD)
        refs = [_judge_task.options(**self._resources(u.model)).remote(u, hold) for u in units]
        labels = [f"judge {u.scorer!r} ({len(u.calls)} calls)" for u in units]
        return self._gather(refs, labels)

    def _gpus(self, model: str) -> float:
        return 0.0 if model.partition("/")[0] in CPU_ONLY else self.gpus_per_unit

    def _resources(self, model: str) -> dict[str, Any]:
        gpus = self._gpus(model)
        return {
            "num_cpus": 1,
            "num_gpus": gpus,
            "max_retries": self.max_retries,
            "retry_exceptions": False,
        }

    def _gather(self, refs: list[Any], labels: list[str]) -> Iterator[tuple[int, Outcome]]:
        """(index, outcome) of each task as it finishes; what is left is cancelled if the
        caller stops early (an error, Ctrl-C)."""
        index = {ref: i for i, ref in enumerate(refs)}
        self._running = list(refs)
        try:
            while self._running:
                ready, self._running = ray.wait(self._running, num_returns=1)
                for ref in ready:
                    yield index[ref], self._get(ref, labels[index[ref]])
        finally:
            self._cancel()

    def _get(self, ref: Any, label: str) -> Outcome:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as error:  # a bug on the worker: its own exception
            raise error.as_instanceof_cause() from None
        except ray.exceptions.RayError as error:
            raise WeirdgenError(
                f"{label}: the Ray task failed after {self.max_retries} retries "
                f"({type(error).__name__}: {_first_line(error)}); what finished is stored, so "
                "running the same command again resumes"
            ) from None

    def _cancel(self) -> None:
        for ref in self._running:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - a task that ended meanwhile cannot be cancelled
                pass
        self._running = []

    def close(self) -> None:
        self._cancel()
        if self.started and ray.is_initialized():
            ray.shutdown()
        self.started = False


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]
