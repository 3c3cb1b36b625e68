"""The server's connections, bounded against slowloris: clients that open connections and
never finish a request's headers, so that the server runs out of open files before it reads
a single API key.

A new connection has ``header_timeout`` seconds to send its first request's headers, or it is
closed; a kept-alive connection has the keep-alive timeout (75 s, server.py) for its next.
At most ``connections`` are open at once: past the cap a new connection closes the one that
has waited longest outside a request (one that never sent its headers, or an idle kept-alive
one), so a flood of silent connections cannot lock a client out. Only when every open
connection is inside a request is the new one closed at once. The process's soft limit on open
files is raised to carry the cap (:func:`fit_open_files`).

aiohttp's ``TCPSite`` listens with the runner's protocol factory as it is, so the server
listens through :class:`ListeningSite` with :meth:`Connections.factory` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from weirdgen.serve.limits import FLAGS, ServerLimits

try:
    import resource
except ImportError:  # Windows: no soft limit to raise
    resource = None  # type: ignore[assignment]

log = logging.getLogger("weirdgen.serve")

FILES_PER_CONNECTION = 2  # its socket, and the file an upload on it is written to
FILES_BESIDE_CONNECTIONS = 128  # the listening socket, model weights, state and log files


class Connections:
    """The open connections, those waiting for a request longest first; the cap and the
    header timeout of :mod:`this module <weirdgen.serve.connections>`.

    :meth:`factory` makes each connection's protocol (and so sees it open and close), and
    :meth:`middleware` sees each request start and end.
    """

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.cap = limits.connections
        self.open = 0
        # Connections outside a request (accepted, maybe not yet made), longest waiting first.
        self._waiting: dict[RequestHandler, _Watched] = {}

    def factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The protocol factory to listen with: ``server``'s, within the cap."""

        def connection() -> asyncio.BaseProtocol:
            if self.open >= self.cap and not self._close_longest_waiting():
                log.debug("refused a connection: all %d are inside a request", self.open)
                return _Refused()
            self.open += 1
            watched = _Watched(server(), self)
            loop = asyncio.get_running_loop()
            watched.timer = loop.call_later(self.limits.header_timeout, self._expire, watched)
            self._waiting[watched.handler] = watched
            return watched

        return connection

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Marks the request's connection as inside a request until the answer is made."""
        watched = self._waiting.pop(request.protocol, None)
        if watched is None:  # a connection our factory did not make
            return await handler(request)
        if watched.timer is not None:  # its first request: in time
            watched.timer.cancel()
            watched.timer = None
        try:
            return await handler(request)
        finally:
            if not watched.lost:
                self._waiting[watched.handler] = watched

    def _closed(self, watched: _Watched) -> None:
        self.open -= 1
        self._waiting.pop(watched.handler, None)
        if watched.timer is not None:
            watched.timer.cancel()

    def _close_longest_waiting(self) -> bool:
        if not self._waiting:
            return False
        watched = self._waiting.pop(next(iter(self._waiting)))
        if watched.timer is not None:
            watched.timer.cancel()
            watched.timer = None
        watched.close()
        log.debug("%d connections open: closed the one waiting longest for a request", self.open)
        return True

    def _expire(self, watched: _Watched) -> None:
        watched.timer = None
        self._waiting.pop(watched.handler, None)
        watched.close()
        log.debug("closed a connection that sent no request in %g s", self.limits.header_timeout)


class _Watched(asyncio.Protocol):
    """aiohttp's protocol for one connection, handed every event; tells ``connections``
    when the connection is lost, and can be closed before it is made."""

    def __init__(self, handler: RequestHandler, connections: Connections) -> None:
        self.handler, self.connections = handler, connections
        self.timer: asyncio.TimerHandle | None = None  # set until its first request starts
        self.made = self.lost = self.closing = False

    def close(self) -> None:
        if self.made:
            self.handler.force_close()
        else:
            self.closing = True  # at once when made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.closing:
            transport.close()
            return
        self.made = True
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.connections._closed(self)
        if self.made:
            self.handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.made:
            self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received() if self.made else None

    def pause_writing(self) -> None:
        if self.made:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.made:
            self.handler.resume_writing()


def log_client_gone(request: web.BaseRequest) -> None:
    """One log line for a client that disconnected before its answer was sent (a timeout of
    its own, a dropped stream): a normal event, so no traceback."""
    log.info(
        "%s %s from %s: the client disconnected before its answer; its work is dropped",
        request.method,
        request.path,
        request.remote,
    )


class _Refused(asyncio.Protocol):
    """A connection past the cap when none can be closed: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ListeningSite(web.BaseSite):
    """A TCP site that makes its connections with ``factory`` (aiohttp's TCPSite always uses
    the runner's own)."""

    __slots__ = ("_host", "_port", "_factory")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        factory: Callable[[], asyncio.BaseProtocol],
    ) -> None:
        super().__init__(runner)
        self._host, self._port, self._factory = host, port, factory

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self._host, self._port)


def fit_open_files(connections: int) -> int:
    """The connection cap this process can carry: the soft limit on open files is raised
    (toward the hard limit) to hold ``connections``; where it cannot be, a lower cap that
    fits, with a warning."""
    if resource is None:
        return connections
    wanted = connections * FILES_PER_CONNECTION + FILES_BESIDE_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections
    fits = max(1, (soft - FILES_BESIDE_CONNECTIONS) // FILES_PER_CONNECTION)
    log.warning(
        "%s %d needs %d open files but this process may open %d (ulimit -n); serving at most "
        "%d connections (raise the hard limit, or lower %s)",
        FLAGS["connections"],
        connections,
        wanted,
        soft,
        fits,
        FLAGS["connections"],
    )
    return fits
