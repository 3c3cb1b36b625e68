"""``POST /v1/responses``: enough of OpenAI's Responses API for a chat without tools, as
Inspect AI's ``openai/`` provider and ``client.responses.create`` send it.

``instructions`` is the system prompt; ``input`` is a string (the user's message) or a list of
message items (``role`` system, developer, user or assistant; content a string or
``input_text``/``output_text`` parts). Nothing is stored: ``store: true`` and
``previous_response_id`` are refused, as are tools, reasoning and non-text formats.
``seed`` is this server's extension (the Responses API has none): with it the answer equals
a chat completion of the same conversation with the same seed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen.backends.protocol import Chat, SampleRequest
from weirdgen.data import ChatMessage
from weirdgen.serve.api import (
    ROLES,
    choice_seeds,
    dropped_words,
    invalid_param,
    prepare_as,
    refuse_unsupported,
    top_p_for,
)
from weirdgen.serve.batcher import Batcher
from weirdgen.serve.engine import Engine, RequestError

_TEXT_PARTS = ("input_text", "output_text", "text")

# Parameters of this endpoint that would change the answer or promise what the server does
# not do; refused unless sent with the value given here (or null).
_REFUSED_UNLESS: dict[str, tuple[Any, ...]] = {
    "store": (False,),
    "stream": (False,),
    "background": (False,),
    "previous_response_id": ("",),
    "conversation": ("",),
    "reasoning": ({},),
    "tool_choice": ("auto", "none"),
    "text": ({}, {"format": {"type": "text"}}),
    "truncation": ("disabled",),
    "max_tool_calls": (),
    "prompt": (),
}
_IGNORED = ("metadata", "user", "safety_identifier", "prompt_cache_key", "service_tier")


class ResponsesRequest(BaseModel):
    """The fields of ``POST /v1/responses`` the server honours; strictly typed."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    model: str
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    include: list[str] | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=0)
    parallel_tool_calls: bool | None = None


def parse_responses_request(body: dict[str, Any]) -> ResponsesRequest:
    """Validate a body; raise RequestError naming the first bad parameter."""
    try:
        request = ResponsesRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_param(error) from None
    extra = dict(request.model_extra or {})
    for name in _IGNORED:
        extra.pop(name, None)
    extra = refuse_unsupported(
        extra,
        _REFUSED_UNLESS,
        "/v1/responses on this server (it stores nothing and has no tools or reasoning)",
        "leave it out.",
    )
    # Inspect asks for encrypted reasoning of models it does not know; there is none to add.
    if any(item != "reasoning.encrypted_content" for item in request.include or ()):
        raise RequestError(
            f"Unsupported value for 'include': {request.include!r}; this server adds nothing "
            "to a response.",
            param="include",
            code="unsupported_parameter",
        )
    refuse_unsupported(extra)
    return request


def response_chat(request: ResponsesRequest) -> Chat:
    """The conversation: ``instructions`` as the system prompt, then the input's messages."""
    chat: list[ChatMessage] = []
    if request.instructions and request.instructions.strip():
        chat.append(ChatMessage(role="system", content=request.instructions))
    items = (
        [{"role": "user", "content": request.input}]
        if isinstance(request.input, str)
        else request.input
    )
    for i, item in enumerate(items):
        where = f"input.{i}"
        if item.get("type", "message") != "message":
            raise RequestError(
                f"Unsupported item type {item.get('type')!r} in input[{i}]; this server reads "
                "message items only.",
                param=f"{where}.type",
            )
        role = ROLES.get(item.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise RequestError(
                f"Unsupported role {item.get('role')!r} in input[{i}]; this server reads "
                f"{', '.join(ROLES)} messages.",
                param=f"{where}.role",
            )
        content = item.get("content")
        if isinstance(content, list):
            if not all(
                isinstance(p, dict)
                and p.get("type") in _TEXT_PARTS
                and isinstance(p.get("text"), str)
                for p in content
            ):
                raise RequestError(
                    "Only text content parts (input_text, output_text) are supported.",
                    param=f"{where}.content",
                )
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str) or not content.strip():
            raise RequestError(f"input[{i}] has no text.", param=f"{where}.content")
        chat.append(ChatMessage(role=role, content=content))
    if chat[-1].role != "user":
        raise RequestError(
            f"The last input message must be the user's, not {chat[-1].role!r}.", param="input"
        )
    return tuple(chat)


async def respond(body: dict[str, Any], engine: Engine, batcher: Batcher) -> dict[str, Any]:
    """The ``response`` object for a request body."""
    request = parse_responses_request(body)
    chat = response_chat(request)
    prepared = prepare_as(
        engine, request.model, chat, request.max_output_tokens, "input", "max_output_tokens"
    )
    temperature = 1.0 if request.temperature is None else request.temperature
    top_p = top_p_for(engine, request.top_p)
    seed = choice_seeds(request.seed, 1)[0]
    [answer] = await batcher.complete(
        request.model, [SampleRequest(chat, temperature, prepared.max_tokens, seed, top_p)], None
    )
    cut = answer.finish_reason == "length"
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if cut else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": request.model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "status": "incomplete" if cut else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
            }
        ],
        "output_text": answer.text,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "temperature": temperature,
        "tool_choice": "auto",
        "tools": [],
        "top_p": top_p,
        "store": False,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "reasoning": {"effort": None, "summary": None},
        "metadata": body["metadata"] if isinstance(body.get("metadata"), dict) else {},
        "usage": {
            "input_tokens": answer.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": answer.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        },
        **dropped_words(prepared.dropped),
    }
