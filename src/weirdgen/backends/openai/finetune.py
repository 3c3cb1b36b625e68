"""Finetuning through the OpenAI fine-tuning API: upload, create a job, poll, resume.

Every step is journaled in the model registry (:mod:`weirdgen.store.registry`) before and
after it happens, so a run killed at any point picks up where it was:

- the uploaded training file is remembered per (endpoint, dataset hash) and reused by every
  seed and every later run (checked to still exist first);
- a job is marked ``creating`` before the create request is sent and gets its id right after;
  each job carries ``metadata.weirdgen_key`` (the finetune's content key), so a job whose id
  was never written down (a kill between the request and the journal, a timeout on an answer
  the server did send) is found again by listing jobs rather than created twice;
- a job that exists is only ever polled; a failed or cancelled one is reported, and the next
  run starts a new one;
- an endpoint that refuses connections ends the call within about a second (the client's
  ``refused`` error); an uploaded file stays remembered, and a job whose create request was
  refused stays ``creating``, so the next run looks for it before creating one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from weirdgen._atomic import write_text
from weirdgen.backends.openai.backend import OpenAIBackend
from weirdgen.backends.openai.client import Permanent, Refused, Transient
from weirdgen.backends.protocol import Checkpoint, ModelRef
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import OpenAIRecipe
from weirdgen.store.registry import Registry, RemoteJob

log = logging.getLogger("weirdgen.backends.openai")

METADATA_KEY = "weirdgen_key"
_UPLOAD_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
ENDED = ("succeeded", "failed", "cancelled")
LIST_LIMIT = 100


class FineTuning:
    """One backend's fine-tuning calls, journaled in ``registry``."""

    def __init__(self, backend: OpenAIBackend, registry: Registry | None = None) -> None:
        self.backend = backend
        self.registry = registry or Registry()
        self.where = backend.where

    async def run(
        self,
        dataset: ChatDataset,
        recipe: OpenAIRecipe,
        seed: int,
        key: str,
        out_dir: Path,
        start: ModelRef | None = None,
    ) -> str:
        """The fine-tuned model id for ``key``: from a finished job, a running one, or a new one.

        A new job fine-tunes ``start.name`` (the ``ft:`` id of a finetune trained further)
        if ``start`` is given, else the backend's base model.
        """
        model = start.name if start is not None and start.name else self.backend.model_id
        async with self.backend.session() as session:
            job = self.registry.remote_job(key)
            if job is not None and job.status == "succeeded" and job.model_id:
                return job.model_id
            job_id = None
            if job is not None and job.status not in ("failed", "cancelled"):
                job_id = job.job_id or await self._find(session, key)
            if job_id is None:
                # Seeds of one dataset train side by side: the first uploads, the rest reuse.
                with _upload_lock(self.where, dataset.content_hash):
                    file_id = await self._upload(session, dataset)
                job_id = await self._create(session, model, recipe, seed, key, file_id)
            else:
                log.info("finetune %s: resuming job %s", key, job_id)
            data = await self._wait(session, key, job_id)
        model_id = data["fine_tuned_model"]
        self._write_record(out_dir, key, data, dataset, recipe, seed, start)
        return model_id

    async def _call(
        self, session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        """One API call with retries; failures become one WeirdgenError naming the call."""
        return await self._retried(
            lambda: self.backend.send_json(session, method, path, **kwargs),
            f"{method} {path}",
            f"{method} {self.where}{path}",
        )

    async def _retried(
        self, call: Callable[[], Awaitable[dict[str, Any]]], label: str, what: str
    ) -> dict[str, Any]:
        """``await call()`` with the backend's retries; a failure is one WeirdgenError
        saying ``what`` failed and why."""
        try:
            return await self.backend.retrying(call, label)
        except (Transient, Permanent) as error:
            raise WeirdgenError(f"{what} failed: {error.reason}") from None

    async def _upload(self, session: aiohttp.ClientSession, dataset: ChatDataset) -> str:
        """The id of the training file: the one uploaded before if it still exists, else new."""
        known = self.registry.remote_file(self.where, dataset.content_hash)
        if known is not None:
            try:
                await self.backend.send_json(session, "GET", f"/files/{known}")
                return known
            except Permanent as error:
                if error.status != 404:
                    raise WeirdgenError(f"GET {self.where}/files/{known}: {error.reason}") from None
            except Refused:
                raise self.backend.refused() from None
            except Transient:  # cannot tell whether it exists: upload again rather than guess
                pass
            self.registry.set_remote_file(self.where, dataset.content_hash, None)
        # The same bytes write_chat_jsonl puts in the run folder's datasets/.
        body = "".join(e.to_json() + "\n" for e in dataset.examples).encode()

        def form() -> aiohttp.FormData:  # a fresh one per try: aiohttp consumes it
            data = aiohttp.FormData()
            data.add_field("purpose", "fine-tune")
            data.add_field(
                "file",
                body,
                filename=f"weirdgen-{dataset.content_hash[:12]}.jsonl",
                content_type="application/jsonl",
            )
            return data

        data = await self._retried(
            lambda: self.backend.send_json(session, "POST", "/files", data=form()),
            "POST /files",
            "uploading the training file",
        )
        file_id = str(data["id"])
        self.registry.set_remote_file(self.where, dataset.content_hash, file_id)
        log.info("uploaded %d examples as %s", len(dataset), file_id)
        return file_id

    async def _create(
        self,
        session: aiohttp.ClientSession,
        model: str,
        recipe: OpenAIRecipe,
        seed: int,
        key: str,
        file_id: str,
    ) -> str:
        """Create the job fine-tuning ``model`` (or adopt one a lost answer created) and
        journal its id."""
        hyper = {
            "n_epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "learning_rate_multiplier": recipe.lr_multiplier,
        }
        body: dict[str, Any] = {
            "model": model,
            "training_file": file_id,
            "seed": seed,
            "metadata": {METADATA_KEY: key},
            "method": {
                "type": "supervised",
                "supervised": {
                    "hyperparameters": {k: v for k, v in hyper.items() if v is not None}
                },
            },
        }
        if recipe.suffix:
            body["suffix"] = recipe.suffix
        self.registry.set_remote_job(RemoteJob(key, self.where, None, "creating", None, None))
        tries = 0

        async def create() -> dict[str, Any]:
            nonlocal tries
            tries += 1
            if tries > 1:  # the last try may have created it before its answer was lost
                found = await self._find(session, key)
                if found is not None:
                    return {"id": found, "status": "adopted"}
            return await self.backend.send_json(session, "POST", "/fine_tuning/jobs", json=body)

        try:
            data = await self.backend.retrying(create, "POST /fine_tuning/jobs")
        except (Transient, Permanent) as error:
            self.registry.set_remote_job(
                RemoteJob(key, self.where, None, "failed", None, error.reason)
            )
            raise WeirdgenError(
                f"creating a fine-tuning job for {model} failed: {error.reason}"
            ) from None
        job_id = str(data["id"])
        self.registry.set_remote_job(
            RemoteJob(key, self.where, job_id, str(data.get("status") or "queued"), None, None)
        )
        log.info("finetune %s: created job %s", key, job_id)
        return job_id

    async def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """The checkpoints the provider kept for the job that made ``model`` (OpenAI keeps one
        at the end of each of the last epochs), in step order; the last is ``model`` itself."""
        async with self.backend.session() as session:
            journal = self.registry.remote_job(model.key)
            job_id = journal.job_id if journal is not None else None
            job_id = job_id or await self._find(session, model.key)
            if job_id is None:
                return []
            data = await self._call(
                session,
                "GET",
                f"/fine_tuning/jobs/{job_id}/checkpoints",
                params={"limit": str(LIST_LIMIT)},
            )
        kept = sorted(
            (c for c in data.get("data") or [] if isinstance(c.get("step_number"), int)),
            key=lambda c: c["step_number"],
        )
        out = []
        for i, c in enumerate(kept):
            loss = (c.get("metrics") or {}).get("train_loss")
            ref = model
            if i < len(kept) - 1:  # the last checkpoint holds the final model's weights
                name = str(c["fine_tuned_model_checkpoint"])
                ref = ModelRef(
                    model.backend, f"{model.key}-step{c['step_number']}", model.base, name=name
                )
            out.append(Checkpoint(c["step_number"], ref, loss))
        return out

    async def _find(self, session: aiohttp.ClientSession, key: str) -> str | None:
        """The newest live job carrying ``key`` in its metadata, if the provider has one."""
        data = await self._call(
            session,
            "GET",
            "/fine_tuning/jobs",
            params={"limit": str(LIST_LIMIT), f"metadata[{METADATA_KEY}]": key},
        )
        jobs = [
            j
            for j in data.get("data") or []
            if (j.get("metadata") or {}).get(METADATA_KEY) == key
            and j.get("status") not in ("failed", "cancelled")
        ]
        if not jobs:
            return None
        newest = max(jobs, key=lambda j: j.get("created_at") or 0)
        log.info("finetune %s: found job %s at the provider", key, newest["id"])
        return str(newest["id"])

    async def _wait(self, session: aiohttp.ClientSession, key: str, job_id: str) -> dict[str, Any]:
        """Poll the job until it ends; its final state if it succeeded, else a WeirdgenError."""
        last = None
        while True:
            data = await self._call(session, "GET", f"/fine_tuning/jobs/{job_id}")
            status = str(data.get("status"))
            if status != last:
                log.info("finetune %s: job %s is %s", key, job_id, status)
                last = status
            if status in ENDED:
                break
            self.registry.set_remote_job(RemoteJob(key, self.where, job_id, status, None, None))
            await asyncio.sleep(self.backend.poll_seconds)
        model_id = data.get("fine_tuned_model")
        if status == "succeeded" and isinstance(model_id, str) and model_id:
            self.registry.set_remote_job(RemoteJob(key, self.where, job_id, status, model_id, None))
            return data
        error = data.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        reason = message or (
            "it succeeded without a fine_tuned_model" if status == "succeeded" else status
        )
        self.registry.set_remote_job(RemoteJob(key, self.where, job_id, "failed", None, reason))
        raise WeirdgenError(
            f"fine-tuning job {job_id} on {self.where} {status}: {reason}; fix the cause and "
            "run again (a new job is created; this one is not reused)"
        )

    def _write_record(
        self,
        out_dir: Path,
        key: str,
        job: dict[str, Any],
        dataset: ChatDataset,
        recipe: OpenAIRecipe,
        seed: int,
        start: ModelRef | None = None,
    ) -> None:
        """``out_dir/<key>.json``: which job made the model, from what (a second stage: from
        which finetune, its key as ``base_key``)."""
        record = {
            "backend": "openai",
            "key": key,
            "endpoint": self.where,
            "base_model": self.backend.model_id,
            "base_key": (start or self.backend.base()).key,
            "start_model": start.name if start is not None else None,
            "fine_tuned_model": job.get("fine_tuned_model"),
            "job_id": job.get("id"),
            "training_file": job.get("training_file"),
            "trained_tokens": job.get("trained_tokens"),
            "hyperparameters": (job.get("method") or {})
            .get("supervised", {})
            .get("hyperparameters", job.get("hyperparameters")),
            "dataset_hash": dataset.content_hash,
            "examples": len(dataset),
            "recipe": recipe.model_dump(mode="json"),
            "seed": seed,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_text(out_dir / f"{key}.json", json.dumps(record, indent=2) + "\n")


def _upload_lock(endpoint: str, dataset_hash: str) -> threading.Lock:
    """One lock per (endpoint, dataset): each training thread has its own event loop."""
    with _LOCKS_LOCK:
        return _UPLOAD_LOCKS.setdefault((endpoint, dataset_hash), threading.Lock())
