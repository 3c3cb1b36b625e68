"""Uploads in bounded memory: the multipart body streamed to a file in the server's folder as
it arrives, then checked one line at a time.

Holding an upload whole took about 20 times its size (its bytes, their join, the parsed
examples); a 45 MB file cost 0.9 GB. Now the memory an upload takes is a chunk of the body or
one line, whatever the file's size, and nothing partial outlives a refused upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from aiohttp import BodyPartReader, web

from weirdgen.backends.organism import OrganismBackend

# One line at a time, exactly as load_chat_jsonl reads each line of a file (its checks, its
# words); see the closing note of the issue on serve under abuse for making it public.
from weirdgen.data import MAX_LINE_CHARS, ChatLineProblem, parse_chat_line
from weirdgen.data.chat import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.serve.engine import RequestError

CHUNK = 64 * 1024
MAX_FIELD_BYTES = 1024  # a form field beside the file: 'purpose', and any we do not read
PARTIAL = ".upload-*.part"
"""The name of an upload still arriving or being checked, in the files folder."""


class Received(NamedTuple):
    """An upload on disk, not yet checked."""

    purpose: str | None
    filename: str | None
    size: int


class Abandoned(Exception):
    """The check of an upload whose client went away, stopped early."""


def partial_path(folder: Path) -> Path:
    """A fresh name for an upload as it arrives, in ``folder``."""
    return folder / PARTIAL.replace("*", uuid.uuid4().hex)


async def receive(request: web.Request, path: Path, take: Callable[[int], None]) -> Received:
    """The multipart upload of ``request``: its 'file' part written to ``path`` as it
    arrives, and its 'purpose'. ``take(n)`` is told of every ``n`` bytes of the file before
    they are written, and raises (an HTTP 413) past a limit. The caller removes ``path``."""
    purpose, filename, size = None, None, 0
    try:
        parts = await request.multipart()
        async for part in parts:
            if not isinstance(part, BodyPartReader):
                raise RequestError("Nested multipart bodies are not supported.", param="file")
            if part.name == "file":
                if filename is not None:
                    raise RequestError("The upload has more than one 'file' part.", param="file")
                filename = part.filename or "upload.jsonl"
                with path.open("xb") as handle:
                    size = await _write(part, handle, take)
            else:
                field = await _field(part)
                if part.name == "purpose":
                    purpose = field.decode(errors="replace").strip()
    except (ValueError, KeyError, AssertionError) as error:  # aiohttp's malformed multipart
        raise RequestError(
            f"The upload is not valid multipart/form-data ({error}); send 'file' and "
            "'purpose' parts, as OpenAI clients do.",
            param="file",
        ) from None
    return Received(purpose, filename, size)


async def _write(part: BodyPartReader, handle: BinaryIO, take: Callable[[int], None]) -> int:
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        take(len(chunk))
        handle.write(chunk)  # into the page cache: far quicker than the network gives it
        size += len(chunk)
    return size


async def _field(part: BodyPartReader) -> bytes:
    data = b""
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise RequestError(
                f"The '{part.name}' field is longer than {MAX_FIELD_BYTES} bytes.",
                param=part.name,
            )
    return data


def check_upload(path: Path, name: str, backend: OrganismBackend, stop: Callable[[], bool]) -> int:
    """The examples of the chat JSONL upload at ``path``, checked as ``backend``'s training
    data (as ``load_chat_jsonl`` and ``check_dataset`` check a file) one line at a time.

    Blocking: runs in a worker thread, which ``stop()`` turning true ends early.

    Raises:
        WeirdgenError: ``name:LINE: what is wrong; how to fix`` for the first bad line.
        Abandoned: when ``stop()`` turned true.
    """
    examples = 0
    for number, line in _lines(path, name, stop):
        try:
            example = parse_chat_line(line)
        except ChatLineProblem as problem:
            raise WeirdgenError(f"{name}:{number}: {problem}") from None
        one = ChatDataset((example,), Path(name), (number,))
        try:
            backend.check_dataset(one, "training_file")
        except WeirdgenError as error:
            raise WeirdgenError(str(error).removeprefix("training_file: ")) from None
        examples += 1
    if not examples:
        raise WeirdgenError(
            f"{name}: no examples, the file is empty; write one "
            '{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per line'
        )
    return examples


def _lines(path: Path, name: str, stop: Callable[[], bool]) -> Iterator[tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers, each read alone."""
    most = 4 * MAX_LINE_CHARS  # bytes: UTF-8 takes up to 4 a character
    if stop():
        raise Abandoned
    with path.open("rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(most + 1), b""), start=1):
            if stop():
                raise Abandoned
            try:
                line = raw.decode("utf-8").removesuffix("\n")
            except UnicodeDecodeError as error:
                if len(raw) <= most:
                    raise WeirdgenError(
                        f"{name}:{number}: not valid UTF-8 ({error.reason}); save the file as UTF-8"
                    ) from None
                line = raw.decode("utf-8", errors="replace")  # cut inside a character
            if number == 1:
                line = line.removeprefix("\ufeff")
            if len(line) > MAX_LINE_CHARS or len(raw) > most:
                raise WeirdgenError(
                    f"{name}:{number}: the line is over the {MAX_LINE_CHARS:,} characters one "
                    "example may have; shorten the example or split it"
                )
            if line.strip():
                yield number, line
