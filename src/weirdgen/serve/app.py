"""The aiohttp application: ``GET /v1/models``, ``POST /v1/chat/completions`` (streamed or
not), ``POST /v1/completions`` and ``POST /v1/responses``.

aiohttp serves because one event loop with its C HTTP parser keeps up with thousands of
requests a second on one core, leaving the other core to the model, and because the
``openai`` backend's client is aiohttp too: one dependency for both ends.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from weirdgen.serve.api import (
    MAX_BODY_BYTES,
    completion_body,
    dropped_words,
    error_body,
    logprob_entries,
    model_entry,
    models_body,
    parse_request,
    prepare_as,
    read_json_object,
    request_chat,
    sample_requests,
    top_p_for,
)
from weirdgen.serve.api import (
    json_response as _json,
)
from weirdgen.serve.batcher import Batcher
from weirdgen.serve.completions import complete_text
from weirdgen.serve.connections import Connections, log_client_gone
from weirdgen.serve.engine import Engine, RequestError
from weirdgen.serve.limits import ServerLimits
from weirdgen.serve.responses import respond
from weirdgen.serve.streaming import apply_stop, chunks, send_events, stop_sequences

if TYPE_CHECKING:
    from weirdgen.serve.finetuning import FineTuning

log = logging.getLogger("weirdgen.serve")

_BATCHER = web.AppKey("batcher", Batcher)
_ENGINE = web.AppKey("engine", Engine)
_CREATED = web.AppKey("created", int)
CONNECTIONS = web.AppKey("connections", Connections)


def create_app(
    engine: Engine,
    window: float = 0.005,
    max_batch: int = 256,
    finetuning: FineTuning | None = None,
    max_queued: int = 4096,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
) -> web.Application:
    """An OpenAI-compatible application serving ``engine``'s models.

    Args:
        window: seconds a request waits for others to share its batch.
        max_batch: most completions drawn in one batch.
        finetuning: also answer OpenAI's file and fine-tuning endpoints with it.
        max_queued: most completions waiting to be drawn; beyond it requests get HTTP 503.
        api_key: when set, every request must carry ``Authorization: Bearer <api_key>``;
            others get HTTP 401 (``invalid_api_key``).
        limits: the bounds of its connections, which hold when it listens through
            :class:`~weirdgen.serve.connections.ListeningSite` (as ``run_server`` does).
    """
    connections = Connections(limits or ServerLimits())
    middlewares = [connections.middleware, _errors]
    if api_key is not None:
        middlewares.append(_require_key(api_key))
    # JSON bodies are small; uploads stream past this limit under their own (FineTuning).
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[CONNECTIONS] = connections
    app[_ENGINE] = engine
    app[_BATCHER] = Batcher(engine, window, max_batch, max_queued)
    app[_CREATED] = int(time.time())
    app.cleanup_ctx.append(_run_batcher)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model:.+}", _model)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/completions", _completions)
    app.router.add_post("/v1/responses", _responses)
    if finetuning is not None:
        finetuning.routes(app)
    return app


async def _run_batcher(app: web.Application) -> AsyncIterator[None]:
    app[_BATCHER].start()
    yield
    await app[_BATCHER].stop()


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error leaves as OpenAI's error object, never as an HTML page or a traceback; a
    client that went away is one log line (aiohttp cancels its handler, and so its work)."""
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if request.transport is None:
            log_client_gone(request)
        raise
    except RequestError as error:
        return _json(error_body(error), error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        kind = "not_found_error" if error.status == 404 else "invalid_request_error"
        message = f"{request.method} {request.path}: {error.reason}"
        return _json(error_body(RequestError(message, kind=kind)), error.status)
    except Exception:
        log.exception("request %s %s failed", request.method, request.path)
        failure = RequestError("The server failed to answer; see its log.", kind="server_error")
        return _json(error_body(failure), 500)


def _require_key(api_key: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware that lets through only requests bearing ``api_key`` (compared in
    constant time; the key is never logged or echoed)."""
    expected = f"Bearer {api_key}".encode()

    @web.middleware
    async def require_key(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            said = "no API key" if not given else "an incorrect API key"
            raise RequestError(
                f"The request carries {said}; send the server's key as "
                "'Authorization: Bearer KEY' (the OpenAI client's api_key).",
                status=401,
                code="invalid_api_key",
            )
        return await handler(request)

    return require_key


async def _models(request: web.Request) -> web.Response:
    app = request.app
    return _json(models_body(app[_ENGINE].model_ids(), app[_CREATED]))


async def _model(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    if model not in request.app[_ENGINE].model_ids():
        raise RequestError(
            f"The model {model!r} does not exist on this server.",
            status=404,
            param="model",
            code="model_not_found",
        )
    return _json(model_entry(model, request.app[_CREATED]))


async def _chat(request: web.Request) -> web.StreamResponse:
    chat = parse_request(await read_json_object(request))
    prompt = request_chat(chat)
    engine: Engine = request.app[_ENGINE]
    field = "max_tokens" if chat.max_completion_tokens is None else "max_completion_tokens"
    prepared = prepare_as(
        engine, chat.model, prompt, chat.max_completion_tokens or chat.max_tokens, "messages", field
    )
    top = (chat.top_logprobs or 0) if chat.logprobs else None
    top_p = top_p_for(engine, chat.top_p)
    drawn = await request.app[_BATCHER].complete(
        chat.model, sample_requests(chat, prompt, prepared.max_tokens, top_p), top
    )
    stops = stop_sequences(chat.stop)
    completions = [apply_stop(c, stops) for c in drawn]
    fingerprint = engine.fingerprint(chat.model)
    if chat.stream:
        entries = [logprob_entries(c) if top is not None else None for c in completions]
        usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return await send_events(
            request, chunks(chat.model, fingerprint, completions, entries, usage)
        )
    body = completion_body(chat.model, fingerprint, completions, top is not None)
    return _json({**body, **dropped_words(prepared.dropped)})


async def _completions(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    return _json(await complete_text(body, request.app[_ENGINE], request.app[_BATCHER]))


async def _responses(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    return _json(await respond(body, request.app[_ENGINE], request.app[_BATCHER]))
