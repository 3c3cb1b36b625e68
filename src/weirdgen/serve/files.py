"""OpenAI's file endpoints on ``weirdgen serve``: ``POST /v1/files`` (multipart upload,
purpose ``fine-tune``, checked at once), ``GET /v1/files`` (newest first; ``purpose``,
``limit``, ``after`` and ``order``), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``
and ``DELETE /v1/files/{id}``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import BodyPartReader, web

from weirdgen.backends.organism import OrganismBackend
from weirdgen.data.jsonl import load_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.serve.api import json_response as _json
from weirdgen.serve.api import query_int
from weirdgen.serve.engine import RequestError
from weirdgen.serve.jobs import in_daemon_thread
from weirdgen.serve.limits import FLAGS, MB, FineTuningLimits
from weirdgen.serve.records import ENDED, Store, StoredFile, count_examples

MAX_FILE_LIST = 10_000  # OpenAI's largest (and default) page of files


class FileEndpoints:
    """Uploads kept in ``store``, within ``limits``, checked as training data of ``backend``."""

    def __init__(self, store: Store, limits: FineTuningLimits, backend: OrganismBackend) -> None:
        self.store, self.limits, self.backend = store, limits, backend

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
        most = self.limits.upload_bytes
        if request.content_length is not None and request.content_length > most + 64 * 1024:
            raise _too_large(most)
        try:
            purpose, name, data = await _read_upload(request, most)
        except (ValueError, KeyError, AssertionError) as error:  # aiohttp's malformed multipart
            raise RequestError(
                f"The upload is not valid multipart/form-data ({error}); send 'file' and "
                "'purpose' parts, as OpenAI clients do.",
                param="file",
            ) from None
        if name is None:
            raise RequestError("The upload has no 'file' part.", param="file")
        if purpose != "fine-tune":
            raise RequestError("This server takes files with purpose 'fine-tune'.", param="purpose")
        examples = await asyncio.to_thread(count_examples, data)
        record = StoredFile.new(name, purpose, len(data), examples)
        await asyncio.to_thread(self.store.write_file, record, data)
        path = self.store.file_path(record.id)
        try:
            await in_daemon_thread(lambda: self._check(path))
        except WeirdgenError as error:
            path.unlink(missing_ok=True)
            message = str(error).replace(f"training_file: {path}", name).replace(str(path), name)
            raise RequestError(message, param="file", code="invalid_file") from None
        self.files[record.id] = record
        self.store.save()
        return _json(record.body())

    def _check(self, path: Path) -> None:
        """The upload as the organism's training data: chat JSONL in its vocabulary."""
        self.backend.check_dataset(load_chat_jsonl(path), "training_file")

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

    async def _content(self, request: web.Request) -> web.Response:
        record = self._find(request.match_info["id"])
        data = await asyncio.to_thread(self.store.file_path(record.id).read_bytes)
        return web.Response(body=data, content_type="application/octet-stream")

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


async def _read_upload(request: web.Request, most: int) -> tuple[str | None, str | None, bytes]:
    """The upload's purpose, filename and file bytes (at most ``most`` of them)."""
    purpose, name, data = None, None, b""
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            raise RequestError("Nested multipart bodies are not supported.", param="file")
        if part.name == "purpose":
            purpose = (await _read(part, 1024, "purpose")).decode(errors="replace").strip()
        elif part.name == "file":
            name = part.filename or "upload.jsonl"
            data = await _read(part, most, "file")
    return purpose, name, data


async def _read(part: BodyPartReader, most: int, param: str) -> bytes:
    """A multipart part's bytes, refused with HTTP 413 past ``most`` bytes."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > most:
            if param == "file":
                raise _too_large(most)
            raise RequestError(f"The '{param}' field is longer than {most} bytes.", param=param)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(most: int) -> RequestError:
    return RequestError(
        f"The file is larger than this server takes ({most / MB:g} MB); split it or start the "
        f"server with a higher {FLAGS['upload_bytes']}.",
        status=413,
        param="file",
        code="file_too_large",
    )
