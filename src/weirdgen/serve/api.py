"""The OpenAI wire format: chat completion requests in, completions and errors out."""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen.backends.protocol import SampleRequest, key_seed
from weirdgen.serve.engine import Completion, RequestError

_SEED_RANGE = 2**63

# Parameters that would change the answer if honoured; the server refuses them rather than
# silently ignoring them. A parameter sent with its default value (or null) is accepted.
_UNSUPPORTED_UNLESS = {
    "stream": (False,),
    "stop": ([], ""),
    "top_p": (1, 1.0),
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


class ChatRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` that the server honours."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[_Message] = Field(min_length=1)
    n: int | None = Field(None, ge=1, le=128)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)


def parse_request(body: Any) -> ChatRequest:
    """Validate a request body; raise RequestError naming the first bad parameter."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise RequestError(f"Invalid value for {param!r}: {first['msg']}.", param=param) from None
    for name, value in (request.model_extra or {}).items():
        allowed = _UNSUPPORTED_UNLESS.get(name)
        if allowed is not None and value is not None and value not in allowed:
            raise RequestError(
                f"Unsupported parameter: {name!r} is not supported by this server; "
                "leave it out or send its default.",
                param=name,
                code="unsupported_parameter",
            )
    if request.top_logprobs is not None and not request.logprobs:
        raise RequestError("'top_logprobs' needs 'logprobs' set to true.", param="top_logprobs")
    return request


def user_prompt(request: ChatRequest) -> str:
    """The text of the single user message, the only conversation the server answers."""
    if len(request.messages) != 1 or request.messages[0].role != "user":
        roles = ", ".join(m.role for m in request.messages)
        raise RequestError(
            f"This server answers exactly one user message; got {len(request.messages)} "
            f"message(s) with roles: {roles}. Send messages=[{{'role': 'user', ...}}].",
            param="messages",
        )
    content = request.messages[0].content
    if isinstance(content, list):
        parts = []
        for part in content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(
                    "Only text content parts are supported.", param="messages.0.content"
                )
            parts.append(part["text"])
        content = "".join(parts)
    if not content or not content.strip():
        raise RequestError("The user message is empty.", param="messages.0.content")
    return content


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


def sample_requests(request: ChatRequest, prompt: str, max_tokens: int) -> list[SampleRequest]:
    """One SampleRequest per choice."""
    temperature = 1.0 if request.temperature is None else request.temperature
    return [
        SampleRequest(prompt, temperature, max_tokens, s)
        for s in choice_seeds(request.seed, request.n or 1)
    ]


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
    return {
        "content": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": list(t.token.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": value, "bytes": list(alt.encode())}
                    for alt, value in t.top
                ],
            }
            for t in completion.logprobs or ()
        ],
        "refusal": None,
    }


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
    """``body`` as a JSON response."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )
