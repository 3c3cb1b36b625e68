"""weirdgen's LLM judges, calling their model through Inspect's model API.

A judge asks its model through a weirdgen backend; inside Inspect, :class:`InspectJudgeModel`
is that backend: each call is an Inspect ``generate`` (so Inspect's providers, keys, retries,
rate limits and transcript apply) with the judge's temperature, max_tokens, seed and top
logprobs. The judge's own logic (prompts, the rating read from the first token's logprobs,
labels) is weirdgen's, unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TypeVar

import anyio
import anyio.to_thread
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
)

from weirdgen.backends.protocol import (
    Completion,
    ModelRef,
    RequestFailure,
    SampleRequest,
    SamplingFailed,
    TokenLogprob,
)
from weirdgen.errors import WeirdgenError

T = TypeVar("T")


class InspectJudgeModel:
    """A weirdgen backend (``base``, ``complete``, ``check_prompts``) over an Inspect model.

    Its ``complete`` blocks: call it inside :func:`judging` (the scorer runs weirdgen's
    judges there, in a worker thread), and it runs the requests on the evaluation's event loop.
    """

    name = "inspect"
    usage = None

    def __init__(self, model: Model) -> None:
        self.model = model

    def base(self) -> ModelRef:
        return ModelRef(self.name, f"inspect-{self.model}", str(self.model))

    def check_prompts(self, prompts: Sequence, where: str, max_tokens: int = 0) -> None:
        """Any prompt may go to an Inspect model; its provider says if one cannot."""

    def complete(
        self, model: ModelRef, requests: Sequence[SampleRequest], top_logprobs: int | None = None
    ) -> list[Completion]:
        loop = _LOOP.get()
        if loop is None:
            raise WeirdgenError(
                "an Inspect judge is called inside weirdgen.inspect.judges.judging (in an "
                "Inspect scorer), where the evaluation's event loop is known"
            )
        # A plain task on the loop, not anyio.from_thread.run: that one places the task in the
        # cancel scope of the scorer that started the thread, and where Inspect has cancelled
        # a scope above it (its sample's task group, closed when the solver ends) the task's
        # first checkpoint spun on the loop without end (seen in CI, and in a fresh clone).
        # Inspect's own context (the sample, its transcript) comes along: the worker thread
        # runs in a copy of the scorer's context, and so does this task.
        done = asyncio.run_coroutine_threadsafe(self._complete(list(requests), top_logprobs), loop)
        return done.result()

    async def _complete(
        self, requests: list[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        done: list[Completion | None] = [None] * len(requests)
        failures: list[RequestFailure] = []

        async def one(i: int, request: SampleRequest) -> None:
            config = GenerateConfig(
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
                logprobs=top_logprobs is not None or None,
                top_logprobs=top_logprobs,
            )
            try:
                output = await self.model.generate(_messages(request), config=config)
            except Exception as error:  # noqa: BLE001 - Inspect's retries are spent: it failed
                failures.append(RequestFailure(i, _reason(error)))
                return
            done[i] = _completion(output)

        async with anyio.create_task_group() as group:
            for i, request in enumerate(requests):
                group.start_soon(one, i, request)
        if failures:  # as weirdgen's own client fails: the judge counts these, the run goes on
            failures.sort(key=lambda f: f.index)
            raise SamplingFailed(failures, done, requests, str(self.model))
        return [c for c in done if c is not None]


_LOOP: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "weirdgen_inspect_loop", default=None
)


async def judging(work: Callable[[], T]) -> T:
    """``work()`` (weirdgen's scorers, whose LLM judges call :class:`InspectJudgeModel`) in a
    worker thread, its judge calls made on this event loop; the result."""
    token = _LOOP.set(asyncio.get_running_loop())
    try:
        return await anyio.to_thread.run_sync(work)  # the thread runs in a copy of this context
    finally:
        _LOOP.reset(token)


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _messages(request: SampleRequest) -> list:
    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser}
    return [kinds.get(m.role, ChatMessageAssistant)(content=m.content) for m in request.messages]


def _completion(output: ModelOutput) -> Completion:
    """An Inspect output as the completion weirdgen's judges read: text, tokens, and each
    token's logprob with its top alternatives where the provider gave them."""
    choice = output.choices[0] if output.choices else None
    logprobs = None
    if choice is not None and choice.logprobs is not None:
        logprobs = tuple(
            TokenLogprob(
                t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs or ())
            )
            for t in choice.logprobs.content
        )
    usage = output.usage
    return Completion(
        output.completion,
        usage.input_tokens if usage else 0,
        usage.output_tokens if usage else 0,
        "length" if choice is not None and choice.stop_reason == "max_tokens" else "stop",
        logprobs,
    )
