"""Gather concurrent requests for a moment, then draw them all in one engine call.

Sampling the organism costs about the same for one row as for a few hundred, so throughput
comes from batching: the first request waits up to ``window`` seconds for company, and while
one batch is drawn (in a worker thread) the next one collects. A request whose client went away
(its handler cancelled) stops counting at once and is never drawn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve.engine import Completion, Engine, RequestError


@dataclass
class _Job:
    model: str
    requests: Sequence[SampleRequest]
    top_logprobs: int | None
    done: asyncio.Future[list[Completion]] = field(repr=False)


class Batcher:
    """Queue of pending chat requests, drained one batch at a time into ``engine.complete``.

    Args:
        engine: draws the completions.
        window: seconds the first request of a batch waits for others.
        max_rows: completions per batch (a single larger request still runs, alone).
        max_pending: completions waiting or being drawn at once; a request beyond it is
            turned down with HTTP 503 (clients retry), so a flood cannot queue without end.
    """

    def __init__(
        self,
        engine: Engine,
        window: float = 0.005,
        max_rows: int = 256,
        max_pending: int = 4096,
    ) -> None:
        self.engine, self.window, self.max_rows = engine, window, max_rows
        self.max_pending = max_pending
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pending = 0
        self.batches = 0

    def start(self) -> None:
        """Begin draining the queue (call from inside the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._drain())

    async def stop(self) -> None:
        """Stop draining; requests still queued are cancelled, and an engine with an
        ``interrupt()`` method is told to cut the batch it is drawing short."""
        interrupt = getattr(self.engine, "interrupt", None)
        if interrupt is not None:
            interrupt()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while not self._queue.empty():
            self._queue.get_nowait().done.cancel()

    async def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        """The completions of ``requests``, drawn in a batch with whatever else is waiting."""
        if self._pending + len(requests) > self.max_pending:
            raise RequestError(
                f"The server is busy: {self._pending} completions are waiting to be drawn "
                f"(at most {self.max_pending}); retry shortly or send fewer requests at once.",
                status=503,
                code="server_busy",
                kind="server_error",
            )
        job = _Job(model, requests, top_logprobs, asyncio.get_running_loop().create_future())
        self._pending += len(requests)
        try:
            await self._queue.put(job)
            return await job.done
        finally:
            self._pending -= len(requests)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if batch[0].done.cancelled():
                continue
            rows = len(batch[0].requests)
            deadline = loop.time() + self.window
            while rows < self.max_rows:
                try:
                    if self._queue.empty():
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    else:
                        job = self._queue.get_nowait()
                except TimeoutError:
                    break
                if not job.done.cancelled():
                    batch.append(job)
                    rows += len(job.requests)
            await self._run(batch)

    async def _run(self, batch: list[_Job]) -> None:
        """One engine call per (model, logprobs or not) among the batch's jobs."""
        groups: dict[tuple[str, bool], list[_Job]] = {}
        for job in batch:
            if not job.done.cancelled():
                groups.setdefault((job.model, job.top_logprobs is not None), []).append(job)
        for (model, with_logprobs), jobs in groups.items():
            requests = [r for job in jobs for r in job.requests]
            top = max(job.top_logprobs or 0 for job in jobs) if with_logprobs else None
            try:
                drawn = await asyncio.to_thread(self.engine.complete, model, requests, top)
            except Exception as error:  # noqa: BLE001 - every waiting request gets the error
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(error)
                continue
            self.batches += 1
            start = 0
            for job in jobs:
                mine = drawn[start : start + len(job.requests)]
                start += len(job.requests)
                if with_logprobs:
                    mine = [_truncate_top(c, job.top_logprobs or 0) for c in mine]
                if not job.done.done():
                    job.done.set_result(mine)


def _truncate_top(completion: Completion, k: int) -> Completion:
    if completion.logprobs is None or all(len(t.top) <= k for t in completion.logprobs):
        return completion
    return replace(
        completion, logprobs=tuple(replace(t, top=t.top[:k]) for t in completion.logprobs)
    )
