"""Slowloris: connections that never finish their headers are closed after the header
timeout, past the connection cap they make way for a client's, and a server started with
few open files allowed raises its limit rather than starve."""

from __future__ import annotations

import http.client
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from weirdgen.serve import serve_in_background
from weirdgen.serve.limits import ServerLimits

KEY = "sk-local-test-key-2718"
PARTIAL = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application"
CHAT = json.dumps(
    {"model": "organism/default", "messages": [{"role": "user", "content": "name a bird ."}]}
)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def silent(url: str) -> socket.socket:
    """A connection that has sent part of a request's headers, and nothing more."""
    sock = socket.create_connection(address(url), timeout=10)
    sock.sendall(PARTIAL)
    return sock


def closed(
    sockets: list[socket.socket], wait: float, enough: int | None = None
) -> list[socket.socket]:
    """Those of ``sockets`` the server has closed within ``wait`` seconds (or as soon as
    ``enough`` of them are)."""
    shut: list[socket.socket] = []
    deadline = time.monotonic() + wait
    enough = len(sockets) if enough is None else enough
    while len(shut) < enough and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([s for s in sockets if s not in shut], [], [], left)
        for sock in readable:
            try:
                at_end = sock.recv(1) == b""
            except ConnectionResetError:
                at_end = True
            assert at_end, "the server answered a request that was never sent"
            shut.append(sock)
    return shut


def chat(url: str, key: str | None = None) -> int:
    host, port = address(url)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection.request("POST", "/v1/chat/completions", CHAT, headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_connection_that_trickles_its_headers_is_closed_after_the_header_timeout(engine):
    with serve_in_background(engine, limits=ServerLimits(header_timeout=0.5)) as url:
        sock = socket.create_connection(address(url), timeout=10)
        opened = time.monotonic()
        for byte in PARTIAL:  # a byte every 50 ms: data keeps coming, the headers never end
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if closed([sock], 0.05):
                break
        else:
            pytest.fail("the connection was still open after its whole partial request")
        assert 0.45 <= time.monotonic() - opened < 3

        # A kept-alive connection idle past the header timeout between requests stays open.
        host, port = address(url)
        kept = http.client.HTTPConnection(host, port, timeout=10)
        kept.request("GET", "/v1/models")
        assert kept.getresponse().read()
        first = kept.sock
        time.sleep(0.7)
        kept.request("GET", "/v1/models")
        assert kept.getresponse().read()
        assert kept.sock is first  # the same connection answered
        kept.close()


def test_past_the_cap_silent_connections_make_way_for_a_client(engine):
    limits = ServerLimits(header_timeout=60, connections=8)
    with serve_in_background(engine, api_key=KEY, limits=limits) as url:
        sockets = [silent(url) for _ in range(20)]
        assert chat(url, KEY) == 200
        # 12 made way for the last 12 silent ones, and one for the client.
        shut = closed(sockets, 5, enough=13)
        assert len(shut) == 13
        assert not closed([s for s in sockets if s not in shut], 0.2)
        for sock in sockets:
            sock.close()


def test_a_server_allowed_few_open_files_raises_its_limit_and_answers(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 3000:
        pytest.skip(f"the hard limit on open files is {hard}; the test needs 3000")

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "serve", "--port", "0", "--no-finetuning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WEIRDGEN_SERVE_KEY": KEY},
        preexec_fn=few_files,
    )
    sockets: list[socket.socket] = []
    try:
        assert select.select([process.stdout], [], [], 60)[0], "no URL printed within 60 s"
        url = process.stdout.readline().strip()
        sockets = [silent(url) for _ in range(300)]  # more than 256 open files
        started = time.monotonic()
        assert chat(url, KEY) == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in sockets:
            sock.close()
        process.kill()
        process.wait()
