"""The ``openai`` backend: sampling any OpenAI-compatible chat endpoint (OpenAI, OpenRouter,
a vLLM server, ``weirdgen serve``) with bounded concurrency and retries.

The client is a bare aiohttp loop rather than the ``openai`` SDK: measured side by side on 2
cores against a local server with 50 ms latency (benchmarks/bench_openai_client.py), the SDK
stays below the 700 requests/s target even on its aiohttp transport, while this client
reaches well over 1,000 (see BENCHMARKS.md). Retries are tenacity's.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from weirdgen.backends.protocol import (
    Completion,
    FirstTokenLogprobs,
    ModelRef,
    RequestFailure,
    SampleRequest,
    SamplingFailed,
    TokenLogprob,
    finetune_key,
)
from weirdgen.data import ChatDataset
from weirdgen.data.chat import conversation_problem
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import OpenAIRecipe

KEY_VAR, URL_VAR = "OPENAI_API_KEY", "OPENAI_BASE_URL"
CONCURRENCY_VAR, POLL_VAR = "WEIRDGEN_MAX_CONCURRENCY", "WEIRDGEN_POLL_SECONDS"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
MIN_FINETUNE_EXAMPLES = 10  # the OpenAI fine-tuning API's minimum
_SHOWN_BODY = 200  # characters of a server's error body quoted in a failure

log = logging.getLogger("weirdgen.backends.openai")
T = TypeVar("T")


@dataclass
class Usage:
    """Tokens and requests a backend has spent so far (successful requests only)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


class _Secret:
    """The API key: readable by ``reveal`` only, never by repr, str or pickling."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key is not picklable")


class _Transient(Exception):
    """Worth retrying: 408, 429, 5xx, a timeout or a dropped connection."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Permanent(Exception):
    """Not worth retrying: any other 4xx, or an answer that is not a chat completion."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class OpenAIBackend:
    """Backend ``openai``: chat completions from any OpenAI-compatible endpoint.

    The endpoint is ``$OPENAI_BASE_URL`` (default the OpenAI API) and the key
    ``$OPENAI_API_KEY``; the key is kept out of every repr, log line and error. Requests run
    concurrently (at most ``max_concurrency`` at once, default ``$WEIRDGEN_MAX_CONCURRENCY``
    or 100), each with its own timeout; 408, 429, 5xx, timeouts and dropped connections are
    retried with exponential backoff and jitter, waiting at least what a ``Retry-After``
    header asks. Requests that still fail are reported together in one
    :class:`SamplingFailed`, and none is ever returned as an answer.

    A base :class:`ModelRef` of this backend names the API model in ``base``, and its ``key``
    is a content key of (endpoint, model), so samples from different servers never mix in a
    store; a finetune's ``name`` is the ``ft:...`` id the fine-tuning job made.

    Args:
        name: the model id the endpoint knows (``gpt-4.1-mini``, ``organism/default``, ...).
        max_tries: attempts per request before it counts as failed.
        timeout: seconds one attempt may take.
        backoff: first retry wait in seconds; it doubles per try (plus jitter) up to
            ``max_backoff``, which also caps what a Retry-After header can ask.
        base_url, api_key: the endpoint and key, instead of the environment's.
        poll_seconds: how often a fine-tuning job is checked (default
            ``$WEIRDGEN_POLL_SECONDS`` or 30).
    """

    # Fine-tuning jobs run at the provider: the orchestrator waits for them side by side.
    remote_training = True

    name = "openai"

    def __init__(
        self,
        name: str,
        *,
        max_concurrency: int | None = None,
        max_tries: int = 6,
        timeout: float = 120.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        base_url: str | None = None,
        api_key: str | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        if not name.strip():
            raise WeirdgenError(
                "model 'openai/': name the model after the slash, e.g. openai/gpt-4.1-mini"
            )
        key = (api_key if api_key is not None else os.environ.get(KEY_VAR, "")).strip()
        if not key:
            raise WeirdgenError(
                f"{KEY_VAR} is not set; export your API key as {KEY_VAR} (for a local server "
                "such as `weirdgen serve`, any value will do)"
            )
        self.model_id = name
        url_text = base_url if base_url is not None else os.environ.get(URL_VAR, "")
        self.base_url = url_text.strip().rstrip("/") or DEFAULT_BASE_URL
        url = urlsplit(self.base_url)
        # What messages show: the URL without any user:password@ it may carry.
        self.where = url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()
        if url.scheme not in ("http", "https"):
            raise WeirdgenError(
                f"{URL_VAR}={self.where!r} is not an http(s) URL; set it like "
                "http://127.0.0.1:8000/v1, or unset it for the OpenAI API"
            )
        self.max_concurrency = max_concurrency or _concurrency_from_env()
        self.max_tries, self.timeout = max_tries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self._backoff_wait = wait_exponential(multiplier=backoff, max=max_backoff)
        self._backoff_wait += wait_random(0, backoff)
        self.poll_seconds = poll_seconds if poll_seconds is not None else _poll_from_env()
        self.usage = Usage()
        self._key = _Secret(key)
        self._usage_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_id!r}, base_url={self.where!r})"

    def base(self) -> ModelRef:
        digest = hashlib.sha256(f"{self.where}|{self.model_id}".encode()).hexdigest()[:16]
        return ModelRef(self.name, f"openai-{digest}", self.model_id)

    def check_prompts(self, prompts: Sequence[str], where: str) -> None:
        for i, prompt in enumerate(prompts):
            if not prompt.strip():
                raise WeirdgenError(f"{where}: paraphrase {i + 1} is empty; write the question")

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        if len(dataset) < MIN_FINETUNE_EXAMPLES:
            raise WeirdgenError(
                f"{where}: {len(dataset)} examples; OpenAI fine-tuning needs at least "
                f"{MIN_FINETUNE_EXAMPLES}; add examples"
            )
        for i, example in enumerate(dataset.examples):
            problem = conversation_problem(example.messages)
            if problem:
                raise WeirdgenError(f"{where}: example {i + 1}: {problem}")

    def model_key(self, dataset: ChatDataset, recipe: OpenAIRecipe, seed: int) -> str:
        return finetune_key(self.name, self.base().key, dataset, recipe, seed)

    def train(
        self, dataset: ChatDataset, recipe: OpenAIRecipe, seed: int, out_dir: Path
    ) -> ModelRef:
        """Finetune through the fine-tuning API and wait for the job (see
        :mod:`weirdgen.backends.openai_finetune`); a job this key already has is reused."""
        from weirdgen.backends.openai_finetune import FineTuning

        key = self.model_key(dataset, recipe, seed)
        model_id = _run_sync(FineTuning(self).run(dataset, recipe, seed, key, out_dir))
        return ModelRef(self.name, key, self.model_id, name=model_id)

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        return nullcontext()

    def logprobs(
        self,
        model: ModelRef,
        prompts: Sequence[str],
        top_k: int = 20,
        extra_body: dict[str, Any] | None = None,
    ) -> list[FirstTokenLogprobs]:
        """The first answer token's ``top_k`` alternatives (at most 20, the API's limit),
        read from one greedy one-token completion per prompt.

        Args:
            extra_body: more request fields the server understands (vLLM:
                ``{"chat_template_kwargs": {"enable_thinking": False}}``).
        """
        requests = [SampleRequest(p, 0.0, 1, 0) for p in prompts]
        completions = self.complete(model, requests, min(top_k, 20), extra_body)
        return [
            FirstTokenLogprobs(p, c.logprobs[0].top if c.logprobs else ())
            for p, c in zip(prompts, completions, strict=True)
        ]

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order; raises SamplingFailed if any request failed."""
        return [c.text for c in self.complete(model, requests)]

    def complete(
        self,
        model: ModelRef,
        requests: Sequence[SampleRequest],
        top_logprobs: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> list[Completion]:
        """Like ``sample``, with token counts and, if ``top_logprobs`` is given, logprobs;
        ``extra_body`` fields are added to every request."""
        return _run_sync(self.acomplete(model, requests, top_logprobs, extra_body))

    async def acomplete(
        self,
        model: ModelRef,
        requests: Sequence[SampleRequest],
        top_logprobs: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> list[Completion]:
        """The async form of :meth:`complete`, for callers already in an event loop."""
        if not requests:
            return []
        results: list[Completion | None] = [None] * len(requests)
        failures: list[RequestFailure] = []
        limit = asyncio.Semaphore(self.max_concurrency)
        async with self.session(self.max_concurrency) as session:

            async def one(i: int, request: SampleRequest) -> None:
                body = {**self._body(model, request, top_logprobs), **(extra_body or {})}
                async with limit:
                    try:
                        results[i] = await self._with_retries(session, body, i)
                    except (_Transient, _Permanent) as error:
                        failures.append(RequestFailure(i, error.reason))

            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        if failures:
            failures.sort(key=lambda f: f.index)
            raise SamplingFailed(failures, results, requests, self.where)
        return [r for r in results if r is not None]

    def _body(
        self, model: ModelRef, request: SampleRequest, top_logprobs: int | None
    ) -> dict[str, Any]:
        # OpenAI's own API wants max_completion_tokens (reasoning models reject max_tokens);
        # other OpenAI-compatible servers all know max_tokens.
        limit = "max_completion_tokens" if self.base_url == DEFAULT_BASE_URL else "max_tokens"
        body: dict[str, Any] = {
            "model": model.served_as,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": request.temperature,
            limit: request.max_tokens,
            "seed": request.seed,
            "n": 1,
        }
        if top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = top_logprobs
        return body

    async def _with_retries(
        self, session: aiohttp.ClientSession, body: dict[str, Any], index: int
    ) -> Completion:
        completion = await self.retrying(lambda: self._post(session, body), f"request {index}")
        with self._usage_lock:
            self.usage.add(completion)
        return completion

    async def retrying(self, call: Callable[[], Awaitable[T]], label: str) -> T:
        """``await call()``, retried on transient errors (429, 5xx, timeouts) with backoff.

        Raises:
            _Transient: still failing after ``max_tries``; _Permanent: not worth retrying.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_tries),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._log_retry(state, label),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await call()
        except _Transient as error:
            tries = f"{self.max_tries} tries" if self.max_tries > 1 else "1 try"
            raise _Transient(f"{error.reason} (gave up after {tries})") from None
        return result

    def _wait(self, state: RetryCallState) -> float:
        wait = self._backoff_wait(state)
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        return max(wait, min(asked, self.max_backoff)) if asked is not None else wait

    def _log_retry(self, state: RetryCallState, label: str) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "%s: %s; retry %d of %d in %.2fs",
            label,
            self._redact(getattr(error, "reason", type(error).__name__)),
            state.attempt_number,
            self.max_tries - 1,
            wait,
        )

    def session(self, limit: int = 8) -> aiohttp.ClientSession:
        """An HTTP session that sends the API key, for at most ``limit`` requests at once."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            headers={"Authorization": f"Bearer {self._key.reveal()}"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    async def send(
        self, session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> bytes:
        """One attempt at ``METHOD base_url/path``: the body of a 2xx answer.

        Raises:
            _Transient: 408, 429, 5xx, a timeout or a dropped connection.
            _Permanent: any other 4xx.
        """
        try:
            async with session.request(method, f"{self.base_url}{path}", **kwargs) as response:
                status, raw = response.status, await response.read()
                retry_after = _retry_after(response.headers)
        except TimeoutError:
            raise _Transient(f"no answer within {self.timeout:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            detail = self._redact(str(error))[:_SHOWN_BODY]
            raise _Transient(f"connection failed ({type(error).__name__}: {detail})") from None
        if status == 429 or status == 408 or status >= 500:
            raise _Transient(f"HTTP {status}: {self._error_text(raw)}", retry_after)
        if status >= 400:
            hint = f" (check {KEY_VAR})" if status in (401, 403) else ""
            raise _Permanent(f"HTTP {status}{hint}: {self._error_text(raw)}", status)
        return raw

    async def send_json(
        self, session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        """Like :meth:`send`, for an answer that must be a JSON object."""
        raw = await self.send(session, method, path, **kwargs)
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return data
        except (ValueError, TypeError) as error:
            raise self._malformed(raw, f"answer to {method} {path}", error) from None

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> Completion:
        raw = await self.send(session, "POST", "/chat/completions", json=body)
        try:
            return self._parse(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise self._malformed(raw, "chat completion", error) from None

    def _malformed(self, raw: bytes, what: str, error: Exception) -> _Permanent:
        detail = self._redact(raw.decode(errors="replace"))[:_SHOWN_BODY]
        return _Permanent(
            f"a malformed {what} ({type(error).__name__}): {' '.join(detail.split())!r}"
        )

    def _parse(self, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content")
        if text is None:
            text = message.get("refusal")
        if not isinstance(text, str):
            raise TypeError("the first choice has no message content")
        usage = data.get("usage") or {}
        logprobs = None
        if choice.get("logprobs") is not None:
            logprobs = tuple(
                TokenLogprob(
                    self._redact(t["token"]),
                    float(t["logprob"]),
                    tuple(
                        (self._redact(a["token"]), float(a["logprob"]))
                        for a in t.get("top_logprobs") or ()
                    ),
                )
                for t in choice["logprobs"].get("content") or ()
            )
        return Completion(
            self._redact(text),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            choice.get("finish_reason"),
            logprobs,
        )

    def _error_text(self, raw: bytes) -> str:
        """The server's error message (OpenAI's ``error.message`` when there is one)."""
        text = raw.decode(errors="replace")
        try:
            message = json.loads(text)["error"]["message"]
            if isinstance(message, str):
                text = message
        except (ValueError, KeyError, TypeError):
            pass
        return " ".join(self._redact(text).split())[:_SHOWN_BODY] or "(empty body)"

    def _redact(self, text: str) -> str:
        """``text`` with the API key cut out, should a server or proxy echo it back."""
        key = self._key.reveal()
        return text.replace(key, "<redacted>") if len(key) >= 8 and key in text else text


def _poll_from_env() -> float:
    return _number_from_env(
        POLL_VAR, float, 30.0, "the seconds between checks of a fine-tuning job"
    )


def _concurrency_from_env() -> int:
    return _number_from_env(
        CONCURRENCY_VAR, int, 100, "a whole number of requests in flight at once"
    )


def _number_from_env(var: str, kind: type[T], default: T, what: str) -> T:
    """``$var`` read as ``kind``: positive for int, not negative for float; else an error."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)  # type: ignore[call-arg]
    except ValueError:
        value = None
    lowest = 1 if kind is int else 0
    if value is None or value < lowest:  # type: ignore[operator]
        raise WeirdgenError(f"{var}={raw!r}: set it to {what} (default {default})")
    return value


def _retry_after(headers: Any) -> float | None:
    """Seconds a 429 or 503 asks to wait: ``retry-after-ms``, then ``Retry-After`` (seconds
    or an HTTP date); None if neither is there or readable."""
    try:
        if "retry-after-ms" in headers:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        value = headers.get("Retry-After")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(when.timestamp() - time.time(), 0.0)
    except (ValueError, TypeError, OverflowError):
        return None


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even where an event loop is running
    (a notebook): then it runs in a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as error:  # handed back to the caller
            box["error"] = error

    thread = threading.Thread(target=target, name="weirdgen-openai")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
