"""OpenAI's fine-tuning endpoints on ``weirdgen serve``, training the organism for real.

``POST /v1/files`` (multipart upload, purpose ``fine-tune``), ``GET /v1/files/{id}``,
``POST /v1/fine_tuning/jobs``, ``GET /v1/fine_tuning/jobs`` (newest first; ``limit``,
``after`` and ``metadata[k]=v`` filters), ``GET /v1/fine_tuning/jobs/{id}`` and
``POST /v1/fine_tuning/jobs/{id}/cancel``. A job validates its file as chat JSONL, trains the
organism with the job's seed and hyperparameters (``n_epochs``, ``batch_size``,
``learning_rate_multiplier`` times the organism recipe's lr), and then serves the finetune as
``ft:<base>:weirdgen:<suffix>:<job id>``. So any client of OpenAI's fine-tuning API (the
``openai`` backend among them) can be run end to end, offline, against the organism; jobs run
one at a time in the order they were created and live as long as the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from weirdgen._atomic import write_text
from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import ModelRef
from weirdgen.data import load_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.serve.api import json_response as _json
from weirdgen.serve.engine import OrganismEngine, RequestError
from weirdgen.spec.models import OrganismRecipe

log = logging.getLogger("weirdgen.serve")

STATE = "state.json"
HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
ENDED = ("succeeded", "failed", "cancelled")


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    path: Path
    size: int
    created_at: int

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class _Job:
    id: str
    model: str
    training_file: str
    seed: int
    suffix: str | None
    metadata: dict[str, str]
    hyperparameters: dict[str, Any]
    created_at: int
    status: str = "validating_files"
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    error: dict[str, Any] | None = None
    weights: str | None = None  # the finetune's weights file, once it succeeded
    model_key: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "weirdgen",
            "status": self.status,
            "training_file": self.training_file,
            "validation_file": None,
            "result_files": [],
            "trained_tokens": self.trained_tokens,
            "seed": self.seed,
            "suffix": self.suffix,
            "metadata": self.metadata or None,
            "hyperparameters": self.hyperparameters,
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": self.hyperparameters},
            },
            "error": self.error,
        }


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
    """

    def __init__(
        self, engine: OrganismEngine, min_job_seconds: float = 0.0, folder: Path | None = None
    ) -> None:
        self.engine = engine
        self.backend: OrganismBackend = engine.backend
        self.min_job_seconds = min_job_seconds
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="weirdgen-serve-"))
        self.files: dict[str, _File] = {}
        self.jobs: dict[str, _Job] = {}
        self._turn = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._load()

    def _load(self) -> None:
        """Files and jobs an earlier server left in the folder; its finetunes served again."""
        path = self.folder / STATE
        if not path.is_file():
            return
        state = json.loads(path.read_text())
        for record in state["files"]:
            self.files[record["id"]] = _File(**{**record, "path": Path(record["path"])})
        for record in state["jobs"]:
            job = _Job(**record)
            if job.status not in ENDED:
                self._fail(
                    job,
                    "server_restarted",
                    "the server stopped before the job ended; create a new job",
                    save=False,
                )
            elif job.status == "succeeded" and job.weights and Path(job.weights).is_file():
                ref = ModelRef(self.backend.name, str(job.model_key), job.model, job.weights)
                self.engine.add_finetune(str(job.fine_tuned_model), ref)
            self.jobs[job.id] = job
        log.info(
            "%s: %d files and %d jobs of an earlier server", path, len(self.files), len(self.jobs)
        )

    def _save(self) -> None:
        if self._own_folder:
            return  # a temp folder ends with the server: nothing to keep
        state = {
            "files": [{**asdict(f), "path": str(f.path)} for f in self.files.values()],
            "jobs": [asdict(j) for j in self.jobs.values()],
        }
        write_text(self.folder / STATE, json.dumps(state, indent=1))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}", self._file)
        app.router.add_post("/v1/fine_tuning/jobs", self._create)
        app.router.add_get("/v1/fine_tuning/jobs", self._list)
        app.router.add_get("/v1/fine_tuning/jobs/{id}", self._job)
        app.router.add_post("/v1/fine_tuning/jobs/{id}/cancel", self._cancel)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # files

    async def _upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise RequestError("Upload the file as multipart/form-data with 'file' and 'purpose'.")
        purpose, name, data = None, None, b""
        reader = await request.multipart()
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.text()).strip()
            elif part.name == "file":
                name = part.filename or "upload.jsonl"
                data = await part.read()
        if name is None:
            raise RequestError("The upload has no 'file' part.", param="file")
        if purpose != "fine-tune":
            raise RequestError("This server takes files with purpose 'fine-tune'.", param="purpose")
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        path = self.folder / "files" / f"{file_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record = _File(file_id, name, purpose, path, len(data), int(time.time()))
        self.files[file_id] = record
        self._save()
        return _json(record.body())

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.files:
            raise RequestError(f"No such File object: {file_id}", status=404, param="id")
        return _json(self.files[file_id].body())

    # jobs

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=json.loads)
        except ValueError:
            raise RequestError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        model = body.get("model")
        base = self.engine.model_ids()[0]
        if model != base:
            raise RequestError(
                f"Model {model!r} cannot be fine-tuned here; this server fine-tunes {base!r}.",
                param="model",
                code="model_not_available",
            )
        training_file = body.get("training_file")
        if training_file not in self.files:
            raise RequestError(
                f"Training file {training_file!r} does not exist; upload it to /v1/files.",
                param="training_file",
            )
        seed = body.get("seed")
        if seed is None:
            seed = 0
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise RequestError("seed must be a non-negative integer.", param="seed")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise RequestError("suffix must be a string of at most 64 characters.", param="suffix")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise RequestError("metadata must map strings to strings.", param="metadata")
        hyper = _hyperparameters(body)
        job = _Job(
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
        self._save()
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("job %s created (seed %d, %s)", job.id, seed, hyper)
        return _json(job.body())

    async def _list(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            raise RequestError("limit must be an integer.", param="limit") from None
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
        page = jobs[: max(limit, 0)]
        return _json(
            {"object": "list", "data": [j.body() for j in page], "has_more": len(jobs) > limit}
        )

    async def _job(self, request: web.Request) -> web.Response:
        return _json(self._find(request.match_info["id"]).body())

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self._find(request.match_info["id"])
        if job.status in ENDED:
            raise RequestError(f"Job {job.id} has already {job.status}.", param="id")
        job.status, job.finished_at = "cancelled", int(time.time())
        self._save()
        return _json(job.body())

    def _find(self, job_id: str) -> _Job:
        if job_id not in self.jobs:
            raise RequestError(f"No such fine-tuning job: {job_id}", status=404, param="id")
        return self.jobs[job_id]

    async def _run(self, job: _Job) -> None:
        """Validate, wait for the job's turn, train, then serve the finetune."""
        started = time.monotonic()
        try:
            dataset = load_chat_jsonl(self.files[job.training_file].path)
            self.backend.check_dataset(dataset, "training_file")
        except WeirdgenError as error:
            self._fail(job, "invalid_training_file", str(error))
            return
        job.status = "queued"
        self._save()
        async with self._turn:
            if job.status == "cancelled":
                return
            job.status = "running"
            self._save()
            recipe = OrganismRecipe(
                epochs=job.hyperparameters["n_epochs"],
                batch_size=job.hyperparameters["batch_size"],
                lr=OrganismRecipe().lr * job.hyperparameters["learning_rate_multiplier"],
            )
            try:
                ref = await asyncio.to_thread(
                    self.backend.train, dataset, recipe, job.seed, self.folder / "models"
                )
            except Exception as error:  # reported in the job, as a provider would
                log.exception("job %s failed", job.id)
                self._fail(job, "training_failed", f"{type(error).__name__}: {error}")
                return
            while time.monotonic() - started < self.min_job_seconds:  # re-read: tests lower it
                await asyncio.sleep(0.05)
            if job.status == "cancelled":
                return
            name = f"ft:{job.model}:weirdgen:{job.suffix or ''}:{job.id.removeprefix('ftjob-')}"
            self.engine.add_finetune(name, ref)
            tokenizer = self.backend.organism.tokenizer
            job.trained_tokens = recipe.epochs * sum(
                len(tokenizer.chat([(m.role, m.content) for m in e.messages]).ids)
                for e in dataset.examples
            )
            job.fine_tuned_model, job.status = name, "succeeded"
            job.weights, job.model_key = ref.path, ref.key
            job.finished_at = int(time.time())
            self._save()
            log.info("job %s succeeded: %s", job.id, name)

    def _fail(self, job: _Job, code: str, message: str, save: bool = True) -> None:
        job.status, job.finished_at = "failed", int(time.time())
        job.error = {"code": code, "message": message, "param": None}
        if save:
            self._save()


def _hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """The job's hyperparameters (from ``method.supervised`` or the legacy top-level field),
    with 'auto' and missing ones set to this server's defaults."""
    method = body.get("method") or {}
    given = (method.get("supervised") or {}).get("hyperparameters") if method else None
    if given is None:
        given = body.get("hyperparameters") or {}
    if not isinstance(given, dict):
        raise RequestError("hyperparameters must be an object.", param="hyperparameters")
    unknown = sorted(set(given) - set(HYPERPARAMETERS))
    if unknown:
        raise RequestError(
            f"Unknown hyperparameters {unknown}; this server takes {list(HYPERPARAMETERS)}.",
            param="hyperparameters",
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
        ok = isinstance(value, kinds) and not isinstance(value, bool) and value > 0
        if not ok:
            raise RequestError(
                f"hyperparameters.{name} must be 'auto' or a positive number.",
                param=f"hyperparameters.{name}",
            )
        out[name] = value
    return out
