"""Uploads in bounded memory: streamed to disk as they arrive, checked a line at a time, at
most ``checks`` checked at once, within a limit on the data stored; and nothing partial left
by an upload refused or abandoned."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from weirdgen.serve.limits import MB, FineTuningLimits

BOUNDARY = "weirdgen-test-boundary"


def multipart(data: bytes, name: str = "d.jsonl") -> tuple[bytes, bytes]:
    """The bytes of a multipart upload before and after the file's own."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def post_upload(url: str, data: bytes, chunked: bool = False) -> tuple[int, dict]:
    """Upload ``data`` from a stream of 64 KB pieces (so the client holds no copy of the
    whole body); ``chunked`` sends no Content-Length, so the server learns the size last."""
    head, tail = multipart(data)
    parts = urlsplit(url)

    def body() -> Iterator[bytes]:
        yield head
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if not chunked:
        headers["Content-Length"] = str(len(head) + len(data) + len(tail))
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("POST", "/v1/files", body(), headers, encode_chunked=chunked)
    response = connection.getresponse()
    reply = json.loads(response.read())
    connection.close()
    return response.status, reply


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "files").iterdir())


def test_an_upload_takes_far_less_memory_than_its_size(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning()
    # 5000 examples among 8 MB of blank lines (skipped, as in any chat JSONL file): the size
    # of a big upload, at a small part of the time its checks would take under tracemalloc.
    blank = b" " * 999 + b"\n"
    data = b"".join(birds_jsonl(1) + blank * 8 for _ in range(1000)) + birds_jsonl(4000)
    tracemalloc.start()
    try:
        status, reply = post_upload(url, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, reply
    assert reply["bytes"] == len(data) and jobs.files[reply["id"]].examples == 5000
    # Held whole, an upload took several times its size (20 times, parsed); streamed to disk
    # and read a line at a time, a few chunks of it.
    assert peak < len(data) / 4, f"{peak / MB:.1f} MB traced for a {len(data) / MB:.1f} MB file"


def test_an_upload_is_written_to_disk_as_it_arrives_and_removed_if_abandoned(
    serve_finetuning, birds_jsonl, wait_for
):
    url, jobs = serve_finetuning()
    data = birds_jsonl(5000)
    head, tail = multipart(data)
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        (
            f"POST /v1/files HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + len(data) + len(tail)}\r\n\r\n"
        ).encode()
        + head
        + data[: len(data) // 2]
    )
    arriving = lambda: [p for p in (jobs.folder / "files").glob("*.part") if p.stat().st_size]  # noqa: E731
    wait_for(lambda: bool(arriving()), 10, "the upload written as it arrives")
    sock.close()  # the client goes away mid-upload
    wait_for(lambda: not leftovers(jobs.folder), 10, "the partial upload removed")
    assert not jobs.files


def test_refused_uploads_leave_nothing_behind(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning(limits=FineTuningLimits(upload_bytes=10_000))
    big = birds_jsonl(200)  # 24 KB
    for chunked in (False, True):
        status, reply = post_upload(url, big, chunked)
        assert status == 413 and reply["error"]["code"] == "file_too_large", reply
    status, reply = post_upload(url, birds_jsonl(3) + b'{"messages": []}\n')
    assert status == 400 and reply["error"]["code"] == "invalid_file", reply
    assert reply["error"]["message"].startswith("d.jsonl:4: "), reply
    assert leftovers(jobs.folder) == [] and not jobs.files


def test_the_data_stored_has_a_limit(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning(limits=FineTuningLimits(stored_bytes=30_000))
    first = birds_jsonl(200)  # 24 KB of the 30 KB
    status, kept = post_upload(url, first)
    assert status == 200, kept
    for chunked in (False, True):  # refused before reading, or as the bytes arrive
        status, reply = post_upload(url, birds_jsonl(100), chunked)
        assert status == 413 and reply["error"]["code"] == "storage_full", reply
        assert "--max-stored-mb" in reply["error"]["message"]
    assert list(jobs.files) == [kept["id"]]
    assert leftovers(jobs.folder) == [f"{kept['id']}.jsonl"]
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    client.files.delete(kept["id"])
    assert post_upload(url, birds_jsonl(100))[0] == 200  # room again


def test_checks_past_the_limit_wait_their_turn(serve_finetuning, birds_jsonl, monkeypatch):
    url, jobs = serve_finetuning(limits=FineTuningLimits(checks=1))
    backend = jobs.engine.backend
    original = backend.check_dataset
    turns = threading.Condition()
    inside, most = 0, 0

    def check_dataset(dataset, where):
        nonlocal inside, most
        with turns:
            inside += 1
            most = max(most, inside)
            turns.notify_all()
            turns.wait_for(lambda: inside > 1, timeout=0.5)  # a moment for another to join
        try:
            return original(dataset, where)
        finally:
            with turns:
                inside -= 1

    monkeypatch.setattr(backend, "check_dataset", check_dataset)
    with ThreadPoolExecutor(3) as pool:
        statuses = [s for s, _ in pool.map(lambda _: post_upload(url, birds_jsonl(1)), range(3))]
    assert statuses == [200, 200, 200]
    assert most == 1


@pytest.mark.parametrize(
    ("lines", "says"),
    [(2, "d.jsonl:3: not valid UTF-8"), (0, "d.jsonl: no examples, the file is empty")],
)
def test_an_upload_that_is_not_utf8_or_empty_is_refused(serve_finetuning, birds_jsonl, lines, says):
    url, jobs = serve_finetuning()
    data = birds_jsonl(lines) + b"\xff\xfe not utf-8\n" if lines else b"\n \n"
    status, reply = post_upload(url, data)
    assert status == 400 and reply["error"]["message"].startswith(says), reply
    assert leftovers(jobs.folder) == []


def test_an_abandoned_check_stops_at_its_next_line_and_keeps_its_turn_till_then(
    serve_finetuning, birds_jsonl, monkeypatch, caplog, wait_for
):
    caplog.set_level(logging.INFO, logger="weirdgen.serve")
    url, jobs = serve_finetuning(limits=FineTuningLimits(checks=1))
    backend = jobs.engine.backend
    original = backend.check_dataset
    release, calls = threading.Event(), []

    def check_dataset(dataset, where):
        calls.append(dataset.lines[0])
        assert release.wait(10)
        return original(dataset, where)

    monkeypatch.setattr(backend, "check_dataset", check_dataset)
    data = birds_jsonl(3)
    head, tail = multipart(data)
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        (
            f"POST /v1/files HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + len(data) + len(tail)}\r\n\r\n"
        ).encode()
        + head
        + data
        + tail
    )
    wait_for(lambda: calls == [1], 10, "the check at its first line")
    sock.close()
    wait_for(lambda: "disconnected" in caplog.text, 10, "the disconnect seen")
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(post_upload, url, birds_jsonl(2))
        time.sleep(0.5)  # the second upload arrives, and waits: the first check holds the turn
        assert calls == [1] and not second.done()
        release.set()
        assert second.result()[0] == 200
    assert calls == [1, 1, 2]  # the abandoned check read no further; the second checked both
    assert len(jobs.files) == 1 and len(leftovers(jobs.folder)) == 1
