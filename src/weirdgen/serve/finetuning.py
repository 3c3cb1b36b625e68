"""OpenAI's fine-tuning endpoints on ``weirdgen serve``, training the organism for real.

The file endpoints (:mod:`.files`), ``POST /v1/fine_tuning/jobs``, ``GET
/v1/fine_tuning/jobs`` (newest first; ``limit``, ``after`` and ``metadata[k]=v`` filters),
``GET /v1/fine_tuning/jobs/{id}`` and
``POST /v1/fine_tuning/jobs/{id}/cancel``. A job trains the organism with the job's seed and
hyperparameters (``n_epochs``, ``batch_size``, ``learning_rate_multiplier`` times the organism
recipe's lr), and then serves the finetune as ``ft:<base>:weirdgen:<suffix>:<job id>``. So any
client of OpenAI's fine-tuning API (the ``openai`` backend among them) can be run end to end,
offline, against the organism. Jobs run one at a time in the order they were created
(:mod:`.jobs`); what one server takes on is bounded by :class:`.FineTuningLimits`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from weirdgen.serve.api import json_response as _json
from weirdgen.serve.api import query_int, read_json_object
from weirdgen.serve.engine import OrganismEngine, RequestError
from weirdgen.serve.files import FileEndpoints
from weirdgen.serve.jobs import JobRunner
from weirdgen.serve.limits import FLAGS, FineTuningLimits
from weirdgen.serve.records import ENDED, Job, Store, StoredFile
from weirdgen.spec.models import OrganismRecipe

HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
MAX_SEED = 2**63 - 1
MAX_METADATA = (16, 64, 512)  # OpenAI's: pairs, key length, value length
MAX_LIST = 100


class FineTuning:
    """Files and fine-tuning jobs of one server, trained on its organism engine.

    Args:
        engine: the served models; a finished job adds its finetune there.
        min_job_seconds: the least time a job spends running (to act like a provider's
            queue, e.g. when testing that a client resumes a job it already created).
        folder: where uploads, finetuned weights and the jobs' state (``state.json``) are
            kept, so that they outlive the server: a server started again on the same
            folder serves the finetunes of earlier jobs, and reports jobs it did not finish
            as failed. Default: a temp folder removed when the server stops.
        limits: how much the server takes on (upload size, files, jobs, hyperparameters).
    """

    def __init__(
        self,
        engine: OrganismEngine,
        min_job_seconds: float = 0.0,
        folder: Path | None = None,
        limits: FineTuningLimits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits or FineTuningLimits()
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="weirdgen-serve-"))
        self.store = Store(self.folder, persist=not self._own_folder)
        self.store.load()
        self.runner = JobRunner(engine, self.store, min_job_seconds)
        self.runner.serve_earlier_finetunes()

    @property
    def files(self) -> dict[str, StoredFile]:
        return self.store.files

    @property
    def jobs(self) -> dict[str, Job]:
        return self.store.jobs

    @property
    def min_job_seconds(self) -> float:
        return self.runner.min_job_seconds

    @min_job_seconds.setter
    def min_job_seconds(self, seconds: float) -> None:
        self.runner.min_job_seconds = seconds

    def _save(self) -> None:
        self.store.save()

    def routes(self, app: web.Application) -> None:
        FileEndpoints(self.store, self.limits, self.engine.backend).routes(app)
        app.router.add_post("/v1/fine_tuning/jobs", self._create)
        app.router.add_get("/v1/fine_tuning/jobs", self._list)
        app.router.add_get("/v1/fine_tuning/jobs/{id}", self._job)
        app.router.add_post("/v1/fine_tuning/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/v1/fine_tuning/jobs/{id}/checkpoints", self._checkpoints)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        await self.runner.close()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # jobs

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        model = body.get("model")
        base = self.engine.model_ids()[0]
        if model != base:
            raise RequestError(
                f"Model {_short(model)} cannot be fine-tuned here; this server fine-tunes "
                f"{base!r}.",
                param="model",
                code="model_not_available",
            )
        training_file = body.get("training_file")
        if not isinstance(training_file, str) or training_file not in self.files:
            raise RequestError(
                f"Training file {_short(training_file)} does not exist; upload it to /v1/files.",
                param="training_file",
            )
        seed = body.get("seed")
        if seed is None:
            seed = 0
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise RequestError(
                f"seed must be an integer from 0 to {MAX_SEED}; got {_short(seed)}.", param="seed"
            )
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise RequestError("suffix must be a string of at most 64 characters.", param="suffix")
        metadata = _metadata(body.get("metadata"))
        hyper = _hyperparameters(body, self.limits)
        self._check_size(self.files[training_file], hyper)
        if len(self.jobs) >= self.limits.jobs:
            raise RequestError(
                f"This server keeps at most {self.limits.jobs} fine-tuning jobs and has "
                f"{len(self.jobs)}; start it with a higher {FLAGS['jobs']} (or on a new "
                "--state-dir).",
                code="too_many_jobs",
            )
        job = Job(
            f"ftjob-{uuid.uuid4().hex[:24]}",
            base,
            training_file,
            seed,
            suffix,
            metadata,
            hyper,
            int(time.time()),
        )
        self.jobs[job.id] = job
        self.store.save()
        self.runner.start(job)
        return _json(job.body())

    def _check_size(self, record: StoredFile, hyper: dict[str, Any]) -> None:
        """Refuse a job whose file has too many examples, or that trains on too many."""
        limits = self.limits
        if record.examples > limits.examples:
            raise RequestError(
                f"Training file {record.id} has {record.examples} examples, over this "
                f"server's limit of {limits.examples}; use fewer examples or start the server "
                f"with a higher {FLAGS['examples']}.",
                param="training_file",
                code="too_many_examples",
            )
        trained = record.examples * hyper["n_epochs"]
        if trained > limits.trained_examples:
            raise RequestError(
                f"The job would train on {trained} examples ({record.examples} examples x "
                f"{hyper['n_epochs']} epochs), over this server's limit of "
                f"{limits.trained_examples}; lower n_epochs, use fewer examples, or start the "
                f"server with a higher {FLAGS['trained_examples']}.",
                param="hyperparameters.n_epochs",
                code="job_too_large",
            )

    async def _list(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 20, 1, MAX_LIST)
        wanted = {
            k[len("metadata[") : -1]: v
            for k, v in request.query.items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        jobs = sorted(self.jobs.values(), key=lambda j: (j.created_at, j.id), reverse=True)
        jobs = [j for j in jobs if all(j.metadata.get(k) == v for k, v in wanted.items())]
        after = request.query.get("after")
        if after is not None:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1 :] if after in ids else []
        page = jobs[:limit]
        return _json(
            {"object": "list", "data": [j.body() for j in page], "has_more": len(jobs) > limit}
        )

    async def _job(self, request: web.Request) -> web.Response:
        return _json(self._find(request.match_info["id"]).body())

    async def _checkpoints(self, request: web.Request) -> web.Response:
        """``GET /v1/fine_tuning/jobs/{id}/checkpoints``: one per epoch end, newest first."""
        job = self._find(request.match_info["id"])
        bodies = job.checkpoint_bodies()
        limit = query_int(request, "limit", 10, 1, 100)
        after = request.query.get("after")
        if after is not None:
            ids = [b["id"] for b in bodies]
            bodies = bodies[ids.index(after) + 1 :] if after in ids else []
        page = bodies[:limit]
        return _json(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(bodies) > limit,
            }
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self._find(request.match_info["id"])
        if job.status in ENDED:
            raise RequestError(f"Job {job.id} has already {job.status}.", param="id")
        self.runner.cancel(job)
        return _json(job.body())

    def _find(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise RequestError(f"No such fine-tuning job: {job_id}", status=404, param="id")
        return self.jobs[job_id]


def _short(value: Any) -> str:
    """``repr(value)`` cut to fit in an error line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _metadata(value: Any) -> dict[str, str]:
    pairs, key_chars, value_chars = MAX_METADATA
    metadata = value if value is not None else {}
    if (
        not isinstance(metadata, dict)
        or len(metadata) > pairs
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= key_chars
            for k, v in metadata.items()
        )
        or not all(len(v) <= value_chars for v in metadata.values())
    ):
        raise RequestError(
            f"metadata must map at most {pairs} string keys of up to {key_chars} characters "
            f"to string values of up to {value_chars}.",
            param="metadata",
        )
    return metadata


def _hyperparameters(body: dict[str, Any], limits: FineTuningLimits) -> dict[str, Any]:
    """The job's hyperparameters (from ``method.supervised`` or the legacy top-level field),
    with 'auto' and missing ones set to this server's defaults, each within ``limits``."""
    method = body.get("method")
    if method is None:
        given = body.get("hyperparameters")
        where = "hyperparameters"
    else:
        if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
            raise RequestError(
                "method must be {'type': 'supervised', 'supervised': {...}}; this server "
                "fine-tunes by supervised learning only.",
                param="method",
            )
        supervised = method.get("supervised") or {}
        if not isinstance(supervised, dict):
            raise RequestError("method.supervised must be an object.", param="method.supervised")
        given = supervised.get("hyperparameters")
        where = "method.supervised.hyperparameters"
        if given is None:
            given = body.get("hyperparameters")
    given = given if given is not None else {}
    if not isinstance(given, dict):
        raise RequestError(f"{where} must be an object.", param=where)
    unknown = sorted(set(given) - set(HYPERPARAMETERS))
    if unknown:
        raise RequestError(
            f"Unknown hyperparameters {unknown}; this server takes {list(HYPERPARAMETERS)}.",
            param=where,
        )
    defaults = OrganismRecipe()
    out: dict[str, Any] = {
        "n_epochs": defaults.epochs,
        "batch_size": defaults.batch_size,
        "learning_rate_multiplier": 1.0,
    }
    for name, value in given.items():
        if value == "auto" or value is None:
            continue
        kinds = (int, float) if name == "learning_rate_multiplier" else (int,)
        kind = "number" if name == "learning_rate_multiplier" else "integer"
        ok = isinstance(value, kinds) and not isinstance(value, bool) and value > 0
        if not ok:
            raise RequestError(
                f"hyperparameters.{name} must be 'auto' or a positive {kind}; got {_short(value)}.",
                param=f"hyperparameters.{name}",
            )
        most = getattr(limits, name)
        if value > most:
            raise RequestError(
                f"hyperparameters.{name} is {value}, over this server's limit of {most}; "
                f"lower it, or start the server with a higher {FLAGS[name]}.",
                param=f"hyperparameters.{name}",
                code="hyperparameter_too_large",
            )
        out[name] = value
    return out
