"""Running the application: in the foreground for the CLI, or in a background thread."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from weirdgen.errors import WeirdgenError
from weirdgen.serve.app import CONNECTIONS, create_app
from weirdgen.serve.connections import ListeningSite, fit_open_files
from weirdgen.serve.engine import Engine
from weirdgen.serve.finetuning import FineTuning
from weirdgen.serve.limits import ServerLimits

log = logging.getLogger("weirdgen.serve")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KEEPALIVE_TIMEOUT = 75.0
SWITCH_INTERVAL = 0.0003
"""Seconds a thread holds the GIL while others wait (Python's default: 0.005). Uploads are
checked, and jobs trained, in threads that keep the GIL that long each time the event loop
or the batcher's thread wants it back, and those release it at every socket call and torch
op. Beside two checks, on 2 cores, a chat answer took up to 1.9 s at 5 ms, 0.6 s at 1 ms and
0.4 s at 0.3 ms (benchmarks/bench_serve_abuse.py's upload phase, 2 uploads)."""


async def _start(
    engine: Engine,
    host: str,
    port: int,
    window: float,
    max_batch: int,
    finetuning: FineTuning | None = None,
    max_queued: int = 4096,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
) -> tuple[web.AppRunner, str]:
    app = create_app(engine, window, max_batch, finetuning, max_queued, api_key, limits)
    # A stop is prompt: open keep-alive connections get 2 s, not aiohttp's 60. An idle
    # kept-alive connection is closed after 75 s (as by aiohttp's run_app), not an hour. A
    # client that disconnects has its handler cancelled, and so its queued work.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        handler_cancellation=True,
    )
    await runner.setup()
    connections = app[CONNECTIONS]
    connections.cap = fit_open_files(connections.limits.connections)
    assert runner.server is not None  # set up above
    try:
        await ListeningSite(runner, host, port, connections.factory(runner.server)).start()
    except OSError as error:
        await runner.cleanup()
        raise WeirdgenError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "pick another --port (0 picks a free one) or stop what is using it"
        ) from None
    bound_host, bound_port = runner.addresses[0][:2]
    if ":" in bound_host:
        bound_host = f"[{bound_host}]"
    return runner, f"http://{bound_host}:{bound_port}/v1"


def run_server(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 8000,
    window: float = 0.005,
    max_batch: int = 256,
    on_ready: Callable[[str], None] | None = None,
    finetuning: FineTuning | None = None,
    max_queued: int = 4096,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
) -> signal.Signals:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, and return the signal that stopped it.

    On the first signal the port closes, a fine-tuning job still training stops at its next
    optimizer step (and is reported failed), and the call returns within a few seconds. A
    second signal while that happens exits the process at once. ``on_ready`` gets the base URL
    once listening; with ``api_key`` every request must bear it; ``limits`` bound the
    connections. Call from the main thread (signal handlers live there); the process's GIL
    switch interval becomes :data:`SWITCH_INTERVAL`.
    """
    received: list[signal.Signals] = []
    sys.setswitchinterval(SWITCH_INTERVAL)

    async def main() -> None:
        runner, url = await _start(
            engine, host, port, window, max_batch, finetuning, max_queued, api_key, limits
        )
        stopped = asyncio.Event()

        def on_signal(signum: signal.Signals) -> None:
            if received:  # a second signal: the user does not want to wait
                os._exit(128 + signum)
            received.append(signum)
            stopped.set()

        loop = asyncio.get_running_loop()
        # Handled even where the parent started us with SIGINT ignored (as shells do for
        # background jobs).
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            if on_ready is not None:
                on_ready(url)
            await stopped.wait()
            log.info("%s: stopping", signal.Signals(received[0]).name)
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return received[0]


@contextmanager
def serve_in_background(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 0,
    window: float = 0.005,
    max_batch: int = 256,
    finetuning: FineTuning | None = None,
    max_queued: int = 4096,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
) -> Iterator[str]:
    """Serve ``engine`` from a daemon thread for the ``with`` block; yields the base URL.

    Port 0 (the default) takes a free port. Useful in tests and notebooks, where an
    OpenAI-compatible client in the same process queries the served model. When the block
    ends the server has stopped and its port is free again.
    """
    loop = asyncio.new_event_loop()
    ready: dict[str, object] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready["runner"], ready["url"] = loop.run_until_complete(
                _start(
                    engine, host, port, window, max_batch, finetuning, max_queued, api_key, limits
                )
            )
        except BaseException as error:  # handed to the caller below
            ready["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()
        try:
            loop.run_until_complete(ready["runner"].cleanup())  # type: ignore[attr-defined]
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="weirdgen-serve", daemon=True)
    thread.start()
    started.wait()
    if "error" in ready:
        thread.join()
        raise ready["error"]  # type: ignore[misc]
    try:
        yield str(ready["url"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
        if thread.is_alive():
            raise RuntimeError(f"the server at {ready['url']} did not stop within 60 s")
