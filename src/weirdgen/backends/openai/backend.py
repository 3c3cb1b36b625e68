"""The ``openai`` backend: sampling any OpenAI-compatible chat endpoint (OpenAI, OpenRouter,
a vLLM server, ``weirdgen serve``) with bounded concurrency and retries, and finetuning
through the OpenAI fine-tuning API (:mod:`weirdgen.backends.openai.finetune`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import aiohttp

from weirdgen.backends.openai.client import (
    DEFAULT_BASE_URL,
    ApiClient,
    Permanent,
    Transient,
    concurrency_from_env,
    poll_from_env,
    run_sync,
)
from weirdgen.backends.protocol import (
    Chat,
    Checkpoint,
    Completion,
    FirstTokenLogprobs,
    ModelRef,
    RequestFailure,
    SampleRequest,
    SamplingFailed,
    TokenLogprob,
    Usage,
    as_chat,
    finetune_key,
)
from weirdgen.data import ChatDataset
from weirdgen.data.chat import conversation_problem
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import OpenAIRecipe

MIN_FINETUNE_EXAMPLES = 10  # the OpenAI fine-tuning API's minimum


class OpenAIBackend(ApiClient):
    """Backend ``openai``: chat completions from any OpenAI-compatible endpoint.

    The endpoint is ``$OPENAI_BASE_URL`` (default the OpenAI API) and the key
    ``$OPENAI_API_KEY``; the key is kept out of every repr, log line and error. Requests run
    concurrently (at most ``max_concurrency`` at once, default ``$WEIRDGEN_MAX_CONCURRENCY``
    or 100), each with its own timeout; 408, 429, 5xx, timeouts and dropped connections are
    retried with exponential backoff and jitter, waiting at least what a ``Retry-After``
    header asks. Requests that still fail are reported together in one
    :class:`SamplingFailed`, and none is ever returned as an answer. An endpoint that
    refuses connections ends the whole call within about a second with a one-line
    WeirdgenError (not SamplingFailed, so a run stops rather than trying every model).

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

    name = "openai"
    recipe_section = "openai"
    remote_training = True  # jobs run at the provider: the orchestrator waits side by side
    keeps_checkpoints = True  # those the provider keeps, when a recipe asks to sample them
    continues_training = True  # a fine-tuning job's model may be a finetune (its ft: id)

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
        super().__init__(
            max_tries=max_tries,
            timeout=timeout,
            backoff=backoff,
            max_backoff=max_backoff,
            base_url=base_url,
            api_key=api_key,
        )
        self.model_id = name
        self.max_concurrency = max_concurrency or concurrency_from_env()
        self.poll_seconds = poll_seconds if poll_seconds is not None else poll_from_env()
        self.usage = Usage()
        self._usage_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_id!r}, base_url={self.where!r})"

    def base(self) -> ModelRef:
        digest = hashlib.sha256(f"{self.where}|{self.model_id}".encode()).hexdigest()[:16]
        return ModelRef(self.name, f"openai-{digest}", self.model_id)

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        for i, prompt in enumerate(prompts):
            chat = as_chat(prompt)
            if not chat or chat[-1].role != "user":
                raise WeirdgenError(
                    f"{where}: prompt {i + 1} does not end with a user message; put the "
                    "question last"
                )
            if any(not m.content.strip() for m in chat):
                raise WeirdgenError(f"{where}: prompt {i + 1} has an empty message; write it")

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        if len(dataset) < MIN_FINETUNE_EXAMPLES:
            raise WeirdgenError(
                f"{where}: {len(dataset)} examples; OpenAI fine-tuning needs at least "
                f"{MIN_FINETUNE_EXAMPLES}; add examples"
            )
        for i, example in enumerate(dataset.examples):
            problem = conversation_problem(example.messages)
            if problem:
                raise WeirdgenError(f"{where}: {dataset.place(i)}: {problem}")

    def model_key(
        self,
        dataset: ChatDataset,
        recipe: OpenAIRecipe,
        seed: int,
        *,
        start: ModelRef | None = None,
    ) -> str:
        """The finetune's content key; ``start`` (a finetune trained further) stands in for
        the base model in it."""
        begin = start if start is not None else self.base()
        return finetune_key(self.name, begin.key, dataset, recipe, seed)

    def train(
        self,
        dataset: ChatDataset,
        recipe: OpenAIRecipe,
        seed: int,
        out_dir: Path,
        *,
        start: ModelRef | None = None,
    ) -> ModelRef:
        """Finetune through the fine-tuning API and wait for the job (see
        :mod:`weirdgen.backends.openai.finetune`); a job this key already has is reused.

        ``start``, a finetune of this base model, is trained further instead (a second stage,
        as re-alignment is): the job's model is its ``ft:`` id. The result's ``base`` stays
        the base model.
        """
        from weirdgen.backends.openai.finetune import FineTuning

        if start is not None and start.key == self.base().key:
            start = None  # the base model itself: a plain finetune, with the same key
        if start is not None:
            self._check_start(start)
        key = self.model_key(dataset, recipe, seed, start=start)
        model_id = run_sync(FineTuning(self).run(dataset, recipe, seed, key, out_dir, start))
        return ModelRef(self.name, key, self.model_id, name=model_id)

    def _check_start(self, start: ModelRef) -> None:
        """Raise WeirdgenError unless ``start`` is a finetune of this base, served by its id."""
        head = f"cannot train {start.key} further on openai/{self.model_id}"
        if start.backend != self.name or start.base != self.model_id:
            raise WeirdgenError(
                f"{head}: it is a model of {start.backend}/{start.base}, not a finetune of "
                f"{self.model_id}; start the second stage from a finetune of this base model"
            )
        if not start.name:
            raise WeirdgenError(
                f"{head}: it has no fine-tuned model id (ft:...) to start a job from; "
                "delete the run folder's store.sqlite to train the first stage again"
            )

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """The checkpoints the fine-tuning API lists for the job that made ``model`` (see
        ``FineTuning.checkpoints``); none for a base model."""
        if model.name is None:
            return []
        from weirdgen.backends.openai.finetune import FineTuning

        return run_sync(FineTuning(self).checkpoints(model))

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        return nullcontext()

    def logprobs(
        self,
        model: ModelRef,
        prompts: Sequence[Chat | str],
        top_k: int = 20,
        extra_body: dict[str, Any] | None = None,
    ) -> list[FirstTokenLogprobs]:
        """The first answer token's ``top_k`` alternatives (at most 20, the API's limit),
        read from one greedy one-token completion per prompt.

        Args:
            extra_body: more request fields the server understands (vLLM:
                ``{"chat_template_kwargs": {"enable_thinking": False}}``).
        """
        requests = [SampleRequest(as_chat(p), 0.0, 1, 0) for p in prompts]
        completions = self.complete(model, requests, min(top_k, 20), extra_body)
        return [
            FirstTokenLogprobs(r.messages, c.logprobs[0].top if c.logprobs else ())
            for r, c in zip(requests, completions, strict=True)
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
        return run_sync(self.acomplete(model, requests, top_logprobs, extra_body))

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
                try:
                    results[i] = await self._with_retries(session, limit, body, i)
                except (Transient, Permanent) as error:
                    failures.append(RequestFailure(i, error.reason))

            tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(requests)]
            try:
                await asyncio.gather(*tasks)
            finally:  # a refused connection ends the call: the other requests stop too
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
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
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
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
        self,
        session: aiohttp.ClientSession,
        limit: asyncio.Semaphore,
        body: dict[str, Any],
        index: int,
    ) -> Completion:
        """One request, retried; each attempt holds a slot of ``limit``, the waits between
        attempts do not (a request waiting out a 429 leaves its slot to the others)."""

        async def attempt() -> Completion:
            async with limit:
                return await self._post(session, body)

        completion = await self.retrying(attempt, f"request {index}")
        with self._usage_lock:
            self.usage.add(completion)
        return completion

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> Completion:
        raw = await self.send(session, "POST", "/chat/completions", json=body)
        try:
            return self._parse(json.loads(raw), self._key.reveal().encode() in raw)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise self._malformed(raw, "chat completion", error) from None

    def _parse(self, data: dict[str, Any], echoes_key: bool = True) -> Completion:
        """A chat completion's first choice; ``echoes_key`` False when the raw answer does
        not hold the API key, so no text needs redacting (as for nearly every answer)."""
        redact = self._redact if echoes_key else str
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
                    redact(t["token"]),
                    float(t["logprob"]),
                    tuple(
                        (redact(a["token"]), float(a["logprob"]))
                        for a in t.get("top_logprobs") or ()
                    ),
                )
                for t in choice["logprobs"].get("content") or ()
            )
        return Completion(
            redact(text),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            choice.get("finish_reason"),
            logprobs,
        )
