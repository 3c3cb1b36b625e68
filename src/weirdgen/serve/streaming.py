"""Stop sequences, and answers sent as server-sent events in OpenAI's chunk format.

Both are defined on the answer's text, the way OpenAI defines them: the organism's answer
is its words joined by spaces, each token being a word with the space before it. A stop
sequence ends the answer where it first appears (the answer keeps what comes before it); a
stream sends the same answer token by token, so the chunks join to the unstreamed answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web

from weirdgen.serve.connections import log_client_gone
from weirdgen.serve.engine import Completion, RequestError

MAX_STOPS = 4


def stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    """The request's ``stop`` as a tuple; at most four non-empty strings."""
    if stop is None or stop == "":
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if len(stops) > MAX_STOPS:
        raise RequestError(
            f"Invalid value for 'stop': at most {MAX_STOPS} stop sequences, got {len(stops)}.",
            param="stop",
        )
    if any(not s for s in stops):
        raise RequestError("Invalid value for 'stop': a stop sequence is empty.", param="stop")
    return tuple(stops)


def token_starts(text: str) -> list[int]:
    """Where each token of an organism answer starts: 0, then every space (a token is a word
    with the space before it)."""
    if not text:
        return []
    return [0] + [i for i, ch in enumerate(text) if ch == " "]


def apply_stop(completion: Completion, stops: Sequence[str]) -> Completion:
    """``completion`` ended before the first stop sequence it holds, as OpenAI ends it.

    The first sequence to be complete (the earliest end; of those, the earliest start) wins,
    and the answer is the text before it, with finish_reason ``stop``. The tokens drawn up to
    the end of that sequence count as completion tokens; the logprobs keep the tokens that
    begin before the cut, so they cover the answer.
    """
    found = [(at + len(s), at) for s in stops if (at := completion.text.find(s)) >= 0]
    if not found:
        return completion
    end, cut = min(found)
    starts = token_starts(completion.text)
    drawn = sum(1 for s in starts if s < end)
    kept = sum(1 for s in starts if s < cut)
    logprobs = completion.logprobs[:kept] if completion.logprobs is not None else None
    return replace(
        completion,
        text=completion.text[:cut],
        completion_tokens=drawn,
        finish_reason="stop",
        logprobs=logprobs,
    )


def pieces(text: str) -> list[str]:
    """``text`` cut into its tokens (the last possibly cut short by a stop sequence)."""
    starts = token_starts(text)
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=False)]


def chunks(
    model: str,
    fingerprint: str,
    completions: Sequence[Completion],
    logprob_entries: Sequence[list[dict[str, Any]] | None],
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, choice by choice: the
    role first, then one chunk per token, then the finish reason; and the usage last when
    asked (``stream_options.include_usage``)."""
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
    }
    usage: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict[str, Any], logprobs: Any = None, finish: Any = None):
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return {**head, "choices": [choice], **usage}

    for i, (completion, entries) in enumerate(zip(completions, logprob_entries, strict=True)):
        yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
        for k, piece in enumerate(pieces(completion.text)):
            logprobs = None
            if entries is not None:
                logprobs = {"content": entries[k : k + 1], "refusal": None}
            yield chunk(i, {"content": piece}, logprobs)
        yield chunk(i, {}, None, completion.finish_reason)
    if include_usage:
        prompt = completions[0].prompt_tokens if completions else 0
        answer = sum(c.completion_tokens for c in completions)
        yield {
            **head,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": answer,
                "total_tokens": prompt + answer,
            },
        }


async def send_events(request: web.Request, events: Iterator[dict[str, Any]]) -> web.StreamResponse:
    """Send ``events`` as server-sent events, then ``data: [DONE]``.

    The answer is drawn whole before the first event (the organism samples a batch at once),
    so the events leave together; a client reads them one by one all the same. A client that
    disconnects meanwhile is logged in one line.
    """
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    body = b"".join(
        b"data: " + json.dumps(event, allow_nan=False).encode() + b"\n\n" for event in events
    )
    try:
        await response.prepare(request)
        await response.write(body + b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionError:  # aiohttp's finish of the response finds the same, quietly
        log_client_gone(request)
    return response
