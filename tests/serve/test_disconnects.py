"""A client that disconnects before its answer: its work leaves the queue at once (it is never
drawn and stops counting towards the queue's limit), and the server logs one line for it,
without a traceback."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import Completion, OrganismEngine, serve_in_background

QUESTION = [{"role": "user", "content": "name a bird ."}]


class GatedEngine:
    """The organism's engine, whose batches wait for ``gate``; counts the requests prepared
    (each then joins the queue at once) and the rows of each batch."""

    def __init__(self, engine: OrganismEngine) -> None:
        self.engine = engine
        self.gate = threading.Event()
        self.prepared = 0
        self.batches: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def prepare(self, model: str, prompt, max_tokens: int | None):
        self.prepared += 1
        return self.engine.prepare(model, prompt, max_tokens)

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        self.batches.append(len(requests))
        assert self.gate.wait(30), "the test never opened the gate"
        return self.engine.complete(model, requests, top_logprobs)


@pytest.fixture
def gated(organism) -> GatedEngine:
    return GatedEngine(OrganismEngine(organism))


def chat(url: str, n: int) -> int:
    body = {"model": "organism/default", "messages": QUESTION, "n": n, "max_tokens": 4}
    request = urllib.request.Request(
        f"{url}/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def dropped_stream(url: str, n: int) -> socket.socket:
    """A streamed chat request sent whole on a raw socket, whose answer is never read."""
    parts = urlsplit(url)
    body = json.dumps(
        {"model": "organism/default", "messages": QUESTION, "n": n, "stream": True}
    ).encode()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def gone_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "the client disconnected" in r.getMessage()]


def test_dropped_streams_leave_the_queue_at_once_and_are_never_drawn(gated, caplog, wait_for):
    caplog.set_level(logging.INFO, logger="weirdgen.serve")
    with (
        serve_in_background(gated, window=0.01, max_queued=300) as url,
        ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(chat, url, 1)
        wait_for(lambda: gated.batches == [1], 10, "the first batch drawing")
        dropped = [dropped_stream(url, 128) for _ in range(2)]
        wait_for(lambda: gated.prepared == 3, 10, "the streamed requests queued")
        for sock in dropped:
            sock.close()
        wait_for(lambda: len(gone_lines(caplog)) == 2, 10, "both disconnects logged")
        # 256 dropped completions no longer count: 1 drawing + 128 is within 300.
        later = pool.submit(chat, url, 128)
        wait_for(lambda: gated.prepared == 4 or later.done(), 10, "the later request queued")
        gated.gate.set()
        assert first.result() == 200
        assert later.result() == 200
    assert gated.batches == [1, 128]


def test_a_dropped_stream_is_one_log_line_without_a_traceback(gated, caplog, wait_for):
    caplog.set_level(logging.INFO)
    with serve_in_background(gated, window=0.01) as url:
        sock = dropped_stream(url, 2)
        wait_for(lambda: gated.batches == [2], 10, "the batch drawing")
        sock.close()
        wait_for(lambda: len(gone_lines(caplog)) == 1, 10, "the disconnect logged")
        gated.gate.set()
        assert chat(url, 1) == 200  # the next batch is drawn after the dropped one
    [line] = gone_lines(caplog)
    assert line.levelno == logging.INFO and line.exc_info is None
    assert "POST /v1/chat/completions" in line.getMessage()
    assert all(r.exc_info is None and r.levelno < logging.WARNING for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
