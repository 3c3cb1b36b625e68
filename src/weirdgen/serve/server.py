"""Running the application: in the foreground for the CLI, or in a background thread."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from weirdgen.errors import WeirdgenError
from weirdgen.serve.app import create_app
from weirdgen.serve.engine import Engine
from weirdgen.serve.finetuning import FineTuning


async def _start(
    engine: Engine,
    host: str,
    port: int,
    window: float,
    max_batch: int,
    finetuning: FineTuning | None = None,
) -> tuple[web.AppRunner, str]:
    # Ctrl-C stops promptly: open keep-alive connections get 2 s, not aiohttp's 60.
    runner = web.AppRunner(
        create_app(engine, window, max_batch, finetuning), access_log=None, shutdown_timeout=2.0
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
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
) -> None:
    """Serve until interrupted (Ctrl-C); ``on_ready`` gets the base URL once listening."""

    async def main() -> None:
        runner, url = await _start(engine, host, port, window, max_batch, finetuning)
        try:
            if on_ready is not None:
                on_ready(url)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    # Ctrl-C and SIGTERM both stop the server, even where the parent started us with SIGINT
    # ignored (as shells do for background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@contextmanager
def serve_in_background(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 0,
    window: float = 0.005,
    max_batch: int = 256,
    finetuning: FineTuning | None = None,
) -> Iterator[str]:
    """Serve ``engine`` from a daemon thread for the ``with`` block; yields the base URL.

    Port 0 (the default) takes a free port. Useful in tests and notebooks, where an
    OpenAI-compatible client in the same process queries the served model.
    """
    loop = asyncio.new_event_loop()
    ready: dict[str, object] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready["runner"], ready["url"] = loop.run_until_complete(
                _start(engine, host, port, window, max_batch, finetuning)
            )
        except BaseException as error:  # handed to the caller below
            ready["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(ready["runner"].cleanup())  # type: ignore[attr-defined]
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
        thread.join(timeout=10)
