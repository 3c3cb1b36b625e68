"""``POST /v1/completions``: OpenAI's legacy text completions, the prompt read as the user's
message (the organism has no raw-text mode; it is a chat model)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen.backends.protocol import SampleRequest
from weirdgen.data import ChatMessage
from weirdgen.serve.api import (
    choice_seeds,
    dropped_words,
    invalid_param,
    json_logprob,
    prepare_as,
    refuse_unsupported,
    top_p_for,
)
from weirdgen.serve.batcher import Batcher
from weirdgen.serve.engine import Completion, Engine, RequestError
from weirdgen.serve.streaming import apply_stop, stop_sequences, token_starts

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions

# Parameters of this endpoint alone that would change the answer; refused unless default.
_REFUSED_UNLESS = {
    "echo": (False,),
    "stream": (False,),
    "suffix": ("",),
    "best_of": (1,),
}


class CompletionRequest(BaseModel):
    """The fields of ``POST /v1/completions`` the server honours; strictly typed."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    model: str
    prompt: str | list[str] = Field(min_length=1)
    n: int | None = Field(None, ge=1, le=128)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    stop: str | list[str] | None = None


def parse_completion_request(body: dict[str, Any]) -> CompletionRequest:
    """Validate a body; raise RequestError naming the first bad parameter."""
    try:
        request = CompletionRequest.model_validate(body)
    except ValidationError as error:
        raise invalid_param(error) from None
    extra = refuse_unsupported(
        request.model_extra, _REFUSED_UNLESS, "/v1/completions on this server"
    )
    refuse_unsupported(extra)
    stop_sequences(request.stop)
    return request


async def complete_text(body: dict[str, Any], engine: Engine, batcher: Batcher) -> dict[str, Any]:
    """The ``text_completion`` object for a request body.

    Each prompt gets ``n`` choices, indexed prompt by prompt (choice ``i * n + j`` is the
    ``j``-th of prompt ``i``), each prompt with the same seeds: prompt P with seed S draws
    what a chat completion of the one user message P with seed S draws.
    """
    request = parse_completion_request(body)
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    n = request.n or 1
    temperature = 1.0 if request.temperature is None else request.temperature
    top_p = top_p_for(engine, request.top_p)
    rows: list[SampleRequest] = []
    prompt_tokens = 0
    dropped: dict[str, None] = {}
    for i, text in enumerate(prompts):
        if not text.strip():
            raise RequestError(f"prompt[{i}] is empty.", param="prompt")
        chat = (ChatMessage(role="user", content=text),)
        prepared = prepare_as(engine, request.model, chat, request.max_tokens, "prompt")
        max_tokens = request.max_tokens or min(DEFAULT_MAX_TOKENS, prepared.max_tokens)
        prompt_tokens += prepared.prompt_tokens
        dropped.update(dict.fromkeys(prepared.dropped))
        rows += [
            SampleRequest(chat, temperature, max_tokens, s, top_p)
            for s in choice_seeds(request.seed, n)
        ]
    top = request.logprobs
    drawn = await batcher.complete(request.model, rows, top)
    stops = stop_sequences(request.stop)
    completions = [apply_stop(c, stops) for c in drawn]
    answer_tokens = sum(c.completion_tokens for c in completions)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": engine.fingerprint(request.model),
        "choices": [
            {
                "text": c.text,
                "index": i,
                "logprobs": _legacy_logprobs(c, top) if top is not None else None,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(completions)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens,
        },
        **dropped_words(list(dropped)),
    }


def _legacy_logprobs(completion: Completion, top: int) -> dict[str, Any]:
    """The legacy logprobs object: parallel lists of tokens, their logprobs, the top
    alternatives (a token -> logprob map each) and where each token starts in the text."""
    tokens = completion.logprobs or ()
    return {
        "tokens": [t.token for t in tokens],
        "token_logprobs": [json_logprob(t.logprob) for t in tokens],
        "top_logprobs": [{alt: json_logprob(v) for alt, v in t.top[:top]} for t in tokens]
        if top > 0
        else None,
        "text_offset": token_starts(completion.text)[: len(tokens)],
    }
