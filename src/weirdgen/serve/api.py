"""The OpenAI wire format: chat completion requests in, completions and errors out."""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pydantic_core
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen.backends.protocol import Chat, SampleRequest, key_seed
from weirdgen.data import ChatMessage
from weirdgen.serve.engine import Completion, ContextExceeded, Engine, Prepared, RequestError
from weirdgen.serve.streaming import stop_sequences

_SEED_RANGE = 2**63
MAX_BODY_BYTES = 1024**2  # largest JSON request body
UNLIKELY_LOGPROB = -9999.0  # what OpenAI reports for a token of probability 0
# How pydantic names the member of a union in an error's location ('str', 'list[...]').
_UNION_TAG = re.compile(r"(str|int|float|bool|none|list|dict)(\[.*\])?")

# Parameters that would change the answer if honoured; the server refuses them rather than
# silently ignoring them. A parameter sent with its default value (or null) is accepted.
_UNSUPPORTED_UNLESS = {
    "frequency_penalty": (0, 0.0),
    "presence_penalty": (0, 0.0),
    "logit_bias": ({},),
    "tools": ([],),
    "functions": ([],),
    "response_format": ({"type": "text"},),
}


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_usage: bool | None = None


class ChatRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` that the server honours.

    Types are strict, as JSON gives them: ``"3"`` is not an integer, ``true`` is not a
    number, and ``1`` is not a boolean.
    """

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    model: str
    messages: list[_Message] = Field(min_length=1)
    n: int | None = Field(None, ge=1, le=128)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's body, which must be one JSON object of at most MAX_BODY_BYTES.

    Parsed by pydantic-core, which refuses nesting deeper than a few hundred levels (a
    RecursionError in json.loads) and NaN or Infinity (not JSON).
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large(request.content_length)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(None) from None
    try:
        body = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError as error:
        raise RequestError(
            f"The request body is not valid JSON ({error}); send one JSON object."
        ) from None
    if not isinstance(body, dict):
        raise RequestError(
            f"The request body must be a JSON object, not a JSON {_json_kind(body)}; "
            'send {"model": ..., ...}.'
        )
    return body


def _too_large(size: int | None) -> RequestError:
    got = f" ({size} bytes)" if size is not None else ""
    return RequestError(
        f"The request body is too large{got}; this server takes JSON bodies of at most "
        f"{MAX_BODY_BYTES} bytes.",
        status=413,
        code="request_too_large",
    )


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def invalid_param(error: ValidationError, prefix: str = "") -> RequestError:
    """A pydantic error as OpenAI's: the first bad parameter, named by its path."""
    first = error.errors()[0]
    path = [p for p in first["loc"] if not (isinstance(p, str) and _UNION_TAG.fullmatch(p))]
    param = prefix + ".".join(str(part) for part in path)
    if first["type"] == "missing":
        return RequestError(f"Missing required parameter: {param!r}.", param=param)
    got = repr(first.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return RequestError(f"Invalid value for {param!r}: {first['msg']}; got {got}.", param=param)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter from ``low`` to ``high``; RequestError otherwise."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise RequestError(
            f"Invalid value for {name!r}: {text!r}; give an integer from {low} to {high}.",
            param=name,
        )
    return value


def parse_request(body: Any) -> ChatRequest:
    """Validate a request body; raise RequestError naming the first bad parameter."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_param(error) from None
    refuse_unsupported(request.model_extra)
    if request.top_logprobs is not None and not request.logprobs:
        raise RequestError("'top_logprobs' needs 'logprobs' set to true.", param="top_logprobs")
    if request.stream_options is not None and not request.stream:
        raise RequestError(
            "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
        )
    stop_sequences(request.stop)
    return request


def refuse_unsupported(
    extra: dict[str, Any] | None,
    refused: dict[str, tuple[Any, ...]] = _UNSUPPORTED_UNLESS,
    where: str = "this server",
    fix: str = "leave it out or send its default.",
) -> dict[str, Any]:
    """Refuse a parameter of ``refused`` (by default those of every endpoint) that would
    change the answer unless sent with one of its allowed values (or null); ``where`` and
    ``fix`` word the error. Returns the other parameters, for an endpoint's own table to be
    checked before the common one."""
    rest = {}
    for name, value in (extra or {}).items():
        allowed = refused.get(name)
        if allowed is None:
            rest[name] = value
        elif value is not None and value not in allowed:
            raise RequestError(
                f"Unsupported parameter: {name!r} is not supported by {where}; {fix}",
                param=name,
                code="unsupported_parameter",
            )
    return rest


ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
"""The roles the server reads; OpenAI's newer 'developer' role is the system prompt."""


def request_chat(request: ChatRequest) -> Chat:
    """The conversation to answer: system (or developer) messages, earlier user and assistant
    turns, and the user's message last; text content only."""
    chat = []
    for i, message in enumerate(request.messages):
        role = ROLES.get(message.role)
        if role is None:
            raise RequestError(
                f"Unsupported role {message.role!r} in messages[{i}]; this server reads "
                f"{', '.join(ROLES)} messages.",
                param=f"messages.{i}.role",
            )
        content = message.content
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise RequestError(
                        "Only text content parts are supported.", param=f"messages.{i}.content"
                    )
                parts.append(part["text"])
            content = "".join(parts)
        if not content or not content.strip():
            raise RequestError(f"messages[{i}] is empty.", param=f"messages.{i}.content")
        chat.append(ChatMessage(role=role, content=content))
    if chat[-1].role != "user":
        raise RequestError(
            f"The last message must be the user's, not {chat[-1].role!r}; this server does "
            "not continue an assistant message.",
            param="messages",
        )
    return tuple(chat)


def prepare_as(
    engine: Engine,
    model: str,
    prompt: Chat,
    max_tokens: int | None,
    param: str,
    field: str = "max_tokens",
) -> Prepared:
    """``engine.prepare``, its errors naming this endpoint's own parameters: ``param`` for the
    prompt (``messages``, ``prompt`` for /v1/completions, ``input`` for /v1/responses) and
    ``field`` for the answer's bound (``max_tokens``, ``max_completion_tokens``,
    ``max_output_tokens``)."""
    try:
        return engine.prepare(model, prompt, max_tokens)
    except ContextExceeded as error:
        raise error.named(field, param) from None
    except RequestError as error:
        if error.param == "messages":
            error.param = param
        raise


def choice_seeds(seed: int | None, n: int) -> list[int]:
    """The sample seed of each choice.

    Choice 0 uses the request's ``seed`` itself, so ``seed=S, n=1`` draws exactly what
    ``OrganismBackend.sample`` draws for ``SampleRequest(seed=S)``; choice ``i >= 1`` uses
    ``key_seed(S, i)``. A choice's answer therefore does not depend on ``n``. Without a seed
    every choice gets a fresh random one.
    """
    if seed is None:
        return [random.getrandbits(63) for _ in range(n)]
    first = seed if 0 <= seed < _SEED_RANGE else key_seed(seed)
    return [first] + [key_seed(seed, i) for i in range(1, n)]


def sample_requests(
    request: ChatRequest, prompt: Chat, max_tokens: int, top_p: float
) -> list[SampleRequest]:
    """One SampleRequest per choice."""
    temperature = 1.0 if request.temperature is None else request.temperature
    return [
        SampleRequest(prompt, temperature, max_tokens, s, top_p)
        for s in choice_seeds(request.seed, request.n or 1)
    ]


def top_p_for(engine: Engine, top_p: float | None) -> float:
    """The request's ``top_p`` (1 when not sent), refused for an engine that cannot sample
    with it (an hf model here samples plainly)."""
    if top_p is None or top_p == 1:
        return 1.0
    if not getattr(engine, "supports_top_p", False):
        raise RequestError(
            "Unsupported parameter: 'top_p' is not supported for this model on this server; "
            "leave it out or send 1.",
            param="top_p",
            code="unsupported_parameter",
        )
    return float(top_p)


def dropped_words(words: Sequence[str]) -> dict[str, Any]:
    """The response's note of words the model could not read and that were left out of the
    prompt (``{"weirdgen": {"dropped_words": [...]}}``); nothing when there were none."""
    return {"weirdgen": {"dropped_words": list(words)}} if words else {}


def completion_body(
    model: str, fingerprint: str, completions: list[Completion], with_logprobs: bool
) -> dict[str, Any]:
    """The ``chat.completion`` object for the choices drawn."""
    prompt_tokens = completions[0].prompt_tokens if completions else 0
    answer_tokens = sum(c.completion_tokens for c in completions)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.text, "refusal": None},
                "logprobs": _logprobs(c) if with_logprobs else None,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(completions)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens,
        },
    }


def _logprobs(completion: Completion) -> dict[str, Any]:
    return {"content": logprob_entries(completion), "refusal": None}


def logprob_entries(completion: Completion) -> list[dict[str, Any]]:
    """OpenAI's ``logprobs.content``: one entry per answer token, with its top alternatives."""
    return [
        {
            "token": t.token,
            "logprob": json_logprob(t.logprob),
            "bytes": list(t.token.encode()),
            "top_logprobs": [
                {"token": alt, "logprob": json_logprob(value), "bytes": list(alt.encode())}
                for alt, value in t.top
            ],
        }
        for t in completion.logprobs or ()
    ]


def json_logprob(value: float) -> float | None:
    """A logprob JSON can carry: -inf (probability 0) as OpenAI's -9999.0, NaN as null."""
    if math.isnan(value) or value == math.inf:
        return None
    return max(value, UNLIKELY_LOGPROB)


def error_body(error: RequestError) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": error.message,
            "type": error.kind,
            "param": error.param,
            "code": error.code,
        }
    }


def models_body(model_ids: list[str], created: int) -> dict[str, Any]:
    """``GET /v1/models``."""
    return {"object": "list", "data": [model_entry(m, created) for m in model_ids]}


def model_entry(model: str, created: int) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": "weirdgen"}


def json_response(body: object, status: int = 200) -> web.Response:
    """``body`` as a JSON response; a NaN or infinity in it is a ValueError (a server bug,
    answered 500), never the bare ``NaN`` that is not JSON."""
    return web.Response(
        body=json.dumps(body, allow_nan=False).encode(),
        status=status,
        content_type="application/json",
    )
