"""A scripted OpenAI-compatible judge on 127.0.0.1: a real aiohttp server that answers each
chat completion with what a test's ``reply`` function says, and counts every call.

``reply(prompt, body)`` gets the last user message and the request body and returns
``(text, top)``: the reply text and the first token's top alternatives as (token, logprob)
pairs (sent when the request asks for logprobs; top None sends none, as an endpoint without
logprobs does), None for a failed call (HTTP 400), or an HTTP status such as 500 for a
transient failure, which the client retries (the answer asks for a 1 ms wait).
Usage counts words, so a test can check token accounting end to end.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

Reply = Callable[[str, dict], tuple[str, list[tuple[str, float]] | None] | int | None]


class JudgeServer:
    def __init__(self, reply: Reply, delay: float = 0.0) -> None:
        self.reply, self.delay = reply, delay
        self.calls: Counter[str] = Counter()  # by the model asked for
        self.prompts: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.calls[body["model"]] += 1
            self.prompts.append(prompt)
        result = self.reply(prompt, body)
        if result is None:  # a failed call (400: the client does not retry it)
            return web.json_response({"error": {"message": "refused by the test"}}, status=400)
        if isinstance(result, int):  # a transient failure (5xx: retried)
            error = {"error": {"message": f"status {result} from the test"}}
            return web.json_response(error, status=result, headers={"retry-after-ms": "1"})
        text, top = result
        choice: dict = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if body.get("logprobs") and top is not None:
            alternatives = [{"token": t, "logprob": lp} for t, lp in top[: body["top_logprobs"]]]
            first = top[0] if top else (text, 0.0)
            choice["logprobs"] = {
                "content": [{"token": first[0], "logprob": first[1], "top_logprobs": alternatives}]
            }
        words = sum(len(m["content"].split()) for m in body["messages"])
        usage = {"prompt_tokens": words, "completion_tokens": max(1, len(text.split()))}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 from a thread for the ``with`` block; yields
    its ``/v1`` base URL. A handler whose client hung up is cancelled."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@contextmanager
def judge_server(reply: Reply, delay: float = 0.0) -> Iterator[JudgeServer]:
    """Start a JudgeServer on a free port of 127.0.0.1 for the ``with`` block."""
    server = JudgeServer(reply, delay)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    with serving(app) as url:
        server.url = url
        yield server
