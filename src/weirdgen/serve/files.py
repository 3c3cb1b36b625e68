"""OpenAI's file endpoints on ``weirdgen serve``: ``POST /v1/files`` (multipart upload,
purpose ``fine-tune``, checked at once), ``GET /v1/files`` (newest first; ``purpose``,
``limit``, ``after`` and ``order``), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``
and ``DELETE /v1/files/{id}``.

An upload is streamed to disk and checked a line at a time (:mod:`.uploads`); at most
``limits.checks`` uploads are checked at once (the others wait, on disk), and the files kept
and uploads under way together take at most ``limits.stored_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

from aiohttp import web

from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError
from weirdgen.serve.api import json_response as _json
from weirdgen.serve.api import query_int
from weirdgen.serve.engine import RequestError
from weirdgen.serve.jobs import in_daemon_thread
from weirdgen.serve.limits import FLAGS, MB, FineTuningLimits
from weirdgen.serve.records import ENDED, Store, StoredFile
from weirdgen.serve.uploads import PARTIAL, Abandoned, check_upload, partial_path, receive

log = logging.getLogger("weirdgen.serve")

MAX_FILE_LIST = 10_000  # OpenAI's largest (and default) page of files
MULTIPART_SLACK = 64 * 1024  # a multipart body's bytes beside the file: boundaries, fields


class FileEndpoints:
    """Uploads kept in ``store``, within ``limits``, checked as training data of ``backend``."""

    def __init__(self, store: Store, limits: FineTuningLimits, backend: OrganismBackend) -> None:
        self.store, self.limits, self.backend = store, limits, backend
        self.folder = store.folder / "files"
        self.folder.mkdir(parents=True, exist_ok=True)
        for left in self.folder.glob(PARTIAL):  # by a server that stopped mid-upload
            left.unlink(missing_ok=True)
        self._arriving = 0  # bytes of uploads not yet kept or refused
        self._checks = asyncio.Semaphore(limits.checks)

    @property
    def files(self) -> dict[str, StoredFile]:
        return self.store.files

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files", self._list)
        app.router.add_get("/v1/files/{id}", self._file)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_delete("/v1/files/{id}", self._delete)

    async def _upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise RequestError("Upload the file as multipart/form-data with 'file' and 'purpose'.")
        if len(self.files) >= self.limits.files:
            raise RequestError(
                f"This server keeps at most {self.limits.files} files and has "
                f"{len(self.files)}; delete some (DELETE /v1/files/{{id}}) or start it with "
                f"a higher {FLAGS['files']}.",
                param="file",
                code="too_many_files",
            )
        declared = request.content_length
        if declared is not None and declared > self.limits.upload_bytes + MULTIPART_SLACK:
            raise _too_large(self.limits.upload_bytes)
        if declared is not None and declared > self._room() + MULTIPART_SLACK:
            raise self._full()
        path = partial_path(self.folder)
        taken = 0

        def take(size: int) -> None:
            nonlocal taken
            if taken + size > self.limits.upload_bytes:
                raise _too_large(self.limits.upload_bytes)
            if size > self._room():
                raise self._full()
            taken += size
            self._arriving += size

        try:
            purpose, name, size = await receive(request, path, take)
            if name is None:
                raise RequestError("The upload has no 'file' part.", param="file")
            if purpose != "fine-tune":
                raise RequestError(
                    "This server takes files with purpose 'fine-tune'.", param="purpose"
                )
            examples = await self._check(path, name)
            record = StoredFile.new(name, purpose, size, examples)
            os.replace(path, self.store.file_path(record.id))
            self.files[record.id] = record
            self.store.save()
        finally:
            self._arriving -= taken
            path.unlink(missing_ok=True)
        return _json(record.body())

    def _room(self) -> int:
        """Bytes an upload may still take before the stored files reach their limit."""
        kept = sum(f.size for f in self.files.values())
        return self.limits.stored_bytes - kept - self._arriving

    def _full(self) -> RequestError:
        return RequestError(
            f"This server keeps at most {self.limits.stored_bytes / MB:g} MB of files, uploads "
            f"under way included, and the upload does not fit in the "
            f"{max(self._room(), 0) / MB:.3g} MB left; delete files (DELETE /v1/files/{{id}}) "
            f"or start the server with a higher {FLAGS['stored_bytes']}.",
            status=413,
            param="file",
            code="storage_full",
        )

    async def _check(self, path: Path, name: str) -> int:
        """The upload's examples, checked in its turn among at most ``limits.checks``; a
        RequestError naming the upload's own name (not the server's path) if it is bad.

        The turn is held until the check's thread ends, even when the client goes away (the
        check then stops at its next line), so checks never outnumber the limit.
        """
        stop = threading.Event()

        async def in_turn() -> int:
            async with self._checks:
                return await in_daemon_thread(
                    lambda: check_upload(path, name, self.backend, stop.is_set)
                )

        checking = asyncio.ensure_future(in_turn())
        try:
            return await asyncio.shield(checking)
        except asyncio.CancelledError:
            stop.set()
            checking.add_done_callback(_outcome_unused)
            raise
        except WeirdgenError as error:
            raise RequestError(str(error), param="file", code="invalid_file") from None

    async def _list(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        order = request.query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise RequestError(
                f"Invalid value for 'order': {order!r}; give 'asc' or 'desc'.", param="order"
            )
        limit = query_int(request, "limit", MAX_FILE_LIST, 1, MAX_FILE_LIST)
        records = [f for f in self.files.values() if purpose is None or f.purpose == purpose]
        records.sort(key=lambda f: f.created_at)  # stable: uploads of one second keep order
        if order == "desc":
            records.reverse()
        after = request.query.get("after")
        if after is not None:
            ids = [f.id for f in records]
            if after not in ids:
                raise RequestError(
                    f"Invalid value for 'after': no file {after!r} in this listing.",
                    param="after",
                )
            records = records[ids.index(after) + 1 :]
        page = records[:limit]
        return _json(
            {
                "object": "list",
                "data": [f.body() for f in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(records) > limit,
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        return _json(self._find(request.match_info["id"]).body())

    async def _content(self, request: web.Request) -> web.FileResponse:
        record = self._find(request.match_info["id"])
        return web.FileResponse(
            self.store.file_path(record.id), headers={"Content-Type": "application/octet-stream"}
        )

    async def _delete(self, request: web.Request) -> web.Response:
        record = self._find(request.match_info["id"])
        for job in self.store.jobs.values():
            if job.training_file == record.id and job.status not in ENDED:
                raise RequestError(
                    f"File {record.id} is the training file of job {job.id}, which is "
                    f"{job.status}; cancel the job or wait for it to end.",
                    param="id",
                )
        del self.files[record.id]
        self.store.file_path(record.id).unlink(missing_ok=True)
        self.store.save()
        return _json({"id": record.id, "object": "file", "deleted": True})

    def _find(self, file_id: str) -> StoredFile:
        if file_id not in self.files:
            raise RequestError(f"No such File object: {file_id}", status=404, param="id")
        return self.files[file_id]


def _outcome_unused(task: asyncio.Future[int]) -> None:
    """An abandoned check's outcome, which nobody reads (its client is gone); logged only if
    the check itself failed."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, Abandoned | WeirdgenError):
        log.error("checking an abandoned upload failed", exc_info=error)


def _too_large(most: int) -> RequestError:
    return RequestError(
        f"The file is larger than this server takes ({most / MB:g} MB); split it or start the "
        f"server with a higher {FLAGS['upload_bytes']}.",
        status=413,
        param="file",
        code="file_too_large",
    )
