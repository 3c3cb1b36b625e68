"""Judge calls through any backend: the replies, their token counts, the cache around them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from weirdgen.backends import Backend, get_backend
from weirdgen.backends.protocol import Chat, ModelRef, SampleRequest, SamplingFailed, key_seed
from weirdgen.errors import WeirdgenError
from weirdgen.score.judge.args import JudgeArgs
from weirdgen.score.protocol import ScoringContext
from weirdgen.store.judgments import Judgment, judgment_key

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class Call:
    """One request to the judge; ``key`` is its cache key (model, messages, settings)."""

    key: str
    messages: Chat
    temperature: float
    max_tokens: int
    logprobs: bool


@dataclass(frozen=True)
class Reply:
    """What the judge said, its first token's top alternatives, and the tokens it cost."""

    text: str
    top: tuple[tuple[str, float], ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0


def make_call(
    model_key: str,
    messages: Chat,
    temperature: float,
    max_tokens: int,
    logprobs: bool,
    **extra: Any,
) -> Call:
    """A call with its cache key; ``extra`` settings (a sample index) go into the key."""
    chat = [(m.role, m.content) for m in messages]
    settings = {"t": temperature, "max": max_tokens, "lp": logprobs, **extra}
    key = judgment_key(model_key, chat, settings)
    return Call(key, messages, temperature, max_tokens, logprobs)


class FieldError(WeirdgenError):
    """A judge entry's ``field`` is at fault: the caller that knows the entry's place in the
    spec names the field path (``scorers[2].base_url``) before the message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def judge_backend(args: JudgeArgs) -> Backend:
    """The backend of ``args.model``; an openai/ judge takes its own endpoint and key.

    Raises:
        FieldError: ``base_url`` names a host the key may not go to (see
            :mod:`weirdgen.backends.openai.keys`), checked before the key is read.
    """
    provider, _, name = args.model.partition("/")
    own = args.base_url or args.api_key_env or args.concurrency or args.timeout
    if provider != "openai" or not own:
        return get_backend(args.model)
    from weirdgen.backends.openai import KEY_VAR, OpenAIBackend
    from weirdgen.backends.openai.keys import check_key_destination, key_required

    if args.base_url is not None:
        try:
            check_key_destination(
                args.base_url, args.api_key_env or KEY_VAR, bool(args.api_key_env)
            )
        except WeirdgenError as error:
            raise FieldError("base_url", str(error)) from None
    key = None
    if args.api_key_env:  # "" where unset and not required: never $OPENAI_API_KEY instead
        key = os.environ.get(args.api_key_env, "")
        if not key and key_required():
            raise WeirdgenError(
                f"api_key_env names {args.api_key_env}, which is not set; export it with the "
                "endpoint's key"
            )
    timeout = {"timeout": args.timeout} if args.timeout else {}
    return OpenAIBackend(
        name, base_url=args.base_url, api_key=key, max_concurrency=args.concurrency, **timeout
    )


class Sent(NamedTuple):
    """What asking a judge gave: the replies by call key, and why the failed calls failed."""

    replies: dict[str, Reply]
    failed: list[str]


Sender = Callable[["Caller", Sequence[Call]], Iterable[Sent]]
"""Where a run sends the judge calls the cache lacks (``ScoringContext.send``): the caller
and its calls in, the replies out part by part as they arrive; the caller stores each part
in the judge cache at once. None sends them from this process (:meth:`Caller.send`)."""


class Caller:
    """Sends calls to one judge model, through the cache of a scoring context.

    Args:
        args: the judge's spec entry, for a sender that rebuilds the judge elsewhere (a
            Ray worker); None where the caller is only used here.
    """

    def __init__(
        self, scorer: str, backend: Backend, judge_id: str, args: JudgeArgs | None = None
    ) -> None:
        self.scorer, self.backend, self.judge_id, self.args = scorer, backend, judge_id, args
        self.model: ModelRef = backend.base()

    def fetch(self, calls: Sequence[Call], context: ScoringContext) -> dict[str, Reply]:
        """Replies by call key: stored ones from the cache, the others asked once each.
        Failed calls are counted in the context (with a reason) and left out."""
        counts = context.counts(self.scorer)
        unique = {c.key: c for c in calls}
        stored = context.cache.get(list(unique)) if context.cache is not None else {}
        replies = {k: _reply(j) for k, j in stored.items()}
        counts.cached += len(replies)
        missing = [c for k, c in unique.items() if k not in replies]
        if not missing:
            return replies
        send = context.send
        for fresh, failed in [self.send(missing)] if send is None else send(self, missing):
            counts.made += len(fresh)
            counts.failed += len(failed)
            counts.reasons.extend(failed[:3])
            for reply in fresh.values():
                counts.prompt_tokens += reply.prompt_tokens
                counts.completion_tokens += reply.completion_tokens
            if context.cache is not None and fresh:
                context.cache.put(
                    Judgment(
                        k,
                        self.model.key,
                        self.judge_id,
                        {"text": r.text, "top": [list(t) for t in r.top]},
                        r.prompt_tokens,
                        r.completion_tokens,
                    )
                    for k, r in fresh.items()
                )
            replies.update(fresh)
        return replies

    def send(self, calls: Sequence[Call]) -> Sent:
        """Ask this process's judge every call once (nothing is cached here)."""
        return send_calls(self.scorer, self.backend, self.model, calls)


def send_calls(scorer: str, backend: Backend, model: ModelRef, calls: Sequence[Call]) -> Sent:
    """Ask ``backend``'s ``model`` every call once, grouped by their settings: what a judge
    computes, wherever it runs (this process, or a worker given the driver's calls)."""
    replies: dict[str, Reply] = {}
    failed: list[str] = []
    groups: dict[tuple[float, int, bool], list[Call]] = {}
    for call in calls:
        groups.setdefault((call.temperature, call.max_tokens, call.logprobs), []).append(call)
    for (temperature, max_tokens, logprobs), group in groups.items():
        requests = [
            SampleRequest(c.messages, temperature, max_tokens, key_seed(c.key)) for c in group
        ]
        got = _complete(scorer, backend, model, requests, logprobs, failed)
        for call, reply in zip(group, got, strict=True):
            if reply is not None:
                replies[call.key] = reply
    return Sent(replies, failed)


def _complete(
    scorer: str,
    backend: Backend,
    model: ModelRef,
    requests: list[SampleRequest],
    logprobs: bool,
    failed: list[str],
) -> list[Reply | None]:
    complete = getattr(backend, "complete", None)
    if complete is not None:  # API backends: text, logprobs and tokens in one request
        try:
            done = complete(model, requests, TOP_LOGPROBS if logprobs else None)
        except SamplingFailed as error:
            failed.extend(f.reason for f in error.failures)
            done = error.completions
        except WeirdgenError as error:  # the endpoint refused: say whose it is
            raise WeirdgenError(f"judge {scorer!r} ({model.base}): {error}") from None
        return [
            None
            if c is None
            else Reply(
                c.text,
                c.logprobs[0].top if c.logprobs else (),
                c.prompt_tokens,
                c.completion_tokens,
            )
            for c in done
        ]
    return _local(backend, model, requests, logprobs, failed)


def _local(
    backend: Backend,
    model: ModelRef,
    requests: list[SampleRequest],
    logprobs: bool,
    failed: list[str],
) -> list[Reply | None]:
    """Local backends: logprobs from one forward pass; text sampled unless one token of it
    is all the call asks for."""
    tops: list[tuple[tuple[str, float], ...]] = [()] * len(requests)
    if logprobs:
        found = backend.logprobs(model, [r.messages for r in requests], TOP_LOGPROBS)
        tops = [f.top for f in found]
    if logprobs and all(r.max_tokens == 1 and r.temperature == 0 for r in requests):
        return [Reply(top[0][0] if top else "", top) for top in tops]
    try:
        texts: list[str | None] = list(backend.sample(model, requests))
    except SamplingFailed as error:
        failed.extend(f.reason for f in error.failures)
        texts = [getattr(c, "text", c) for c in error.completions]
    return [None if t is None else Reply(t, top) for t, top in zip(texts, tops, strict=True)]


def _reply(judgment: Judgment) -> Reply:
    response = judgment.response
    top = tuple((str(t), float(lp)) for t, lp in response.get("top") or ())
    return Reply(
        str(response.get("text", "")), top, judgment.prompt_tokens, judgment.completion_tokens
    )
