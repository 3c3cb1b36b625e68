"""The HTTP layer of the ``openai`` backend: one retried request to an OpenAI-compatible API.

A bare aiohttp client rather than the ``openai`` SDK: measured side by side on 2 cores
against a local server with 50 ms latency (benchmarks/bench_openai_client.py), the SDK stays
below the 700 requests/s target even on its aiohttp transport, while this client reaches well
over 1,000 (see BENCHMARKS.md). Retries are tenacity's. The API key is held so that no repr,
log line, error or pickle can show it.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import json
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from weirdgen._secret import Redacted
from weirdgen.backends._env import number_from_env
from weirdgen.backends.openai.keys import (
    DEFAULT_BASE_URL,
    KEY_VAR,
    URL_VAR,
    key_required,
    shown,
    url_problem,
)
from weirdgen.errors import WeirdgenError

CONCURRENCY_VAR, POLL_VAR = "WEIRDGEN_MAX_CONCURRENCY", "WEIRDGEN_POLL_SECONDS"
_SHOWN_BODY = 200  # characters of a server's error body quoted in a failure
# A refused connection means nothing listens there: a few quick tries (about 1 s in all)
# cover a server that is just restarting, then the whole call fails.
REFUSED_TRIES, REFUSED_MAX_WAIT = 3, 0.5

log = logging.getLogger("weirdgen.backends.openai")
T = TypeVar("T")


class _Secret(Redacted):
    """The API key: readable by ``reveal`` only, never by repr, str or pickling."""

    __slots__ = ()

    def __reduce__(self) -> Any:
        raise TypeError("the API key is not picklable")


class Transient(Exception):
    """Worth retrying: 408, 429, 5xx, a timeout or a dropped connection."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class Refused(Transient):
    """The endpoint refused the connection: nothing listens there. Retried briefly only."""


class Permanent(Exception):
    """Not worth retrying: any other 4xx, or an answer that is not a chat completion."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class ApiClient:
    """Retried requests to one OpenAI-compatible endpoint with one API key.

    The endpoint is ``base_url`` or ``$OPENAI_BASE_URL`` (default the OpenAI API), the key
    ``api_key`` or ``$OPENAI_API_KEY``. 408, 429, 5xx, timeouts and dropped connections are
    retried with exponential backoff and jitter, waiting at least what a ``Retry-After``
    header asks. A refused connection is tried only ``REFUSED_TRIES`` times, about a second
    in all, and then ends the whole call with a WeirdgenError: nothing listens there.
    A ``base_url`` given here is the caller's choice; one a spec names (a judge's) is checked
    first by :func:`weirdgen.backends.openai.keys.check_key_destination`.

    Args:
        max_tries: attempts per request before it counts as failed.
        timeout: seconds one attempt may take.
        backoff: first retry wait in seconds; it doubles per try (plus jitter) up to
            ``max_backoff``, which also caps what a Retry-After header can ask.
    """

    def __init__(
        self,
        *,
        max_tries: int = 6,
        timeout: float = 120.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        key = (api_key if api_key is not None else os.environ.get(KEY_VAR, "")).strip()
        if not key and key_required():  # not inside keys.without_key (weirdgen plan)
            raise _missing_key()
        url_text = base_url if base_url is not None else os.environ.get(URL_VAR, "")
        self.base_url = url_text.strip().rstrip("/") or DEFAULT_BASE_URL
        self._url_fix = (
            f"start the server or set {URL_VAR}"
            if base_url is None
            else "start the server or pass another base_url"
        )
        self.where = shown(self.base_url)  # what messages show: no user:password@
        problem = url_problem(self.base_url)
        if problem is not None:
            fix = f", or unset {URL_VAR} for the OpenAI API" if base_url is None else ""
            source = URL_VAR if base_url is None else "base_url"
            raise WeirdgenError(f"{source} {self.where!r} {problem}{fix}")
        self.max_tries, self.timeout = max_tries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self._backoff_wait = wait_exponential(multiplier=backoff, max=max_backoff)
        self._backoff_wait += wait_random(0, backoff)
        self._refused_wait = wait_exponential(
            multiplier=min(backoff, REFUSED_MAX_WAIT / 2), max=REFUSED_MAX_WAIT
        )
        self._key = _Secret(key)

    async def retrying(self, call: Callable[[], Awaitable[T]], label: str) -> T:
        """``await call()``, retried on transient errors (429, 5xx, timeouts) with backoff.

        Raises:
            Transient: still failing after ``max_tries``; Permanent: not worth retrying;
            WeirdgenError: the endpoint refuses connections (see :meth:`refused`).
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_tries) | _StopWhenRefused(),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            before_sleep=lambda state: self._log_retry(state, label),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await call()
        except Refused:
            raise self.refused() from None
        except Transient as error:
            tries = f"{self.max_tries} tries" if self.max_tries > 1 else "1 try"
            raise Transient(f"{error.reason} (gave up after {tries})") from None
        return result

    def refused(self) -> WeirdgenError:
        """The one-line error for an endpoint that refuses connections."""
        return WeirdgenError(
            f"cannot connect to {self.where} (connection refused); {self._url_fix}"
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Refused):
            return self._refused_wait(state)
        asked = getattr(error, "retry_after", None)
        if asked is None:
            return self._backoff_wait(state)
        # The server said when: wait that long (capped), plus a little jitter so the
        # requests it turned away together do not all come back at the same instant. A short
        # Retry-After (0.1 s) is honoured, not stretched to the backoff.
        asked = min(asked, self.max_backoff)
        return asked + random.uniform(0, 0.1 * asked + 0.01)

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
        if not self._key.reveal():  # built without a key, for planning: nothing is sent
            raise _missing_key()
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
            Transient: 408, 429, 5xx, a timeout or a dropped connection
                (:class:`Refused` if the connection was refused).
            Permanent: any other 4xx.
        """
        try:
            async with session.request(method, f"{self.base_url}{path}", **kwargs) as response:
                status, raw = response.status, await response.read()
                retry_after = retry_after_seconds(response.headers)
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            if isinstance(error, aiohttp.ClientConnectorError) and (
                error.os_error.errno == errno.ECONNREFUSED
            ):
                raise Refused("connection refused") from None
            detail = self._redact(str(error))[:_SHOWN_BODY]
            raise Transient(f"connection failed ({type(error).__name__}: {detail})") from None
        if status == 429 or status == 408 or status >= 500:
            raise Transient(f"HTTP {status}: {self._error_text(raw)}", retry_after)
        if status >= 400:
            hint = f" (check {KEY_VAR})" if status in (401, 403) else ""
            raise Permanent(f"HTTP {status}{hint}: {self._error_text(raw)}", status)
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

    def _malformed(self, raw: bytes, what: str, error: Exception) -> Permanent:
        detail = self._redact(raw.decode(errors="replace"))[:_SHOWN_BODY]
        return Permanent(
            f"a malformed {what} ({type(error).__name__}): {' '.join(detail.split())!r}"
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


def _missing_key() -> WeirdgenError:
    return WeirdgenError(
        f"{KEY_VAR} is not set; export your API key as {KEY_VAR} (for a local server such as "
        "`weirdgen serve`, any value will do)"
    )


class _StopWhenRefused(stop_base):
    """Stop at a refused try once ``REFUSED_TRIES`` tries were made."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, Refused) and retry_state.attempt_number >= REFUSED_TRIES


def poll_from_env() -> float:
    what = "the seconds between checks of a fine-tuning job"
    return number_from_env(POLL_VAR, float, 30.0, what, positive=False)


def concurrency_from_env() -> int:
    what = "a whole number of requests in flight at once"
    return number_from_env(CONCURRENCY_VAR, int, 100, what, positive=True)


def retry_after_seconds(headers: Any) -> float | None:
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


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
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
