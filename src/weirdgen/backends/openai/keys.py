"""Where an ``openai/`` endpoint may be (:func:`url_problem`, for ``$OPENAI_BASE_URL``, a
judge's ``base_url`` and calibrate's ``--base-url``) and where an API key may be sent
(:func:`check_key_destination`, for every judge a spec names, in ``run``, ``plan`` and
``judge calibrate``).

A key goes without asking to OpenAI's own API (https://api.openai.com), to loopback
(127.0.0.1, ::1, localhost) and to an endpoint the user named themselves: ``$OPENAI_BASE_URL``
or a command's ``--base-url``. A ``base_url`` a spec names anywhere else is someone else's
choice of server: it gets a key only when the spec names the variable holding that
endpoint's own key (``api_key_env``) and the user confirms the host (``--send-key-to HOST``,
or :func:`send_key_to` in Python). The user's ``$OPENAI_API_KEY`` never goes there.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from weirdgen.errors import WeirdgenError

KEY_VAR, URL_VAR = "OPENAI_API_KEY", "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROVIDER_HOST = "api.openai.com"
CONFIRM_FLAG = "--send-key-to"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC = re.compile(r"[0-9.]+|0x[0-9a-fx.]*")  # what the client reads as an IPv4 address


class UserEndpoints(NamedTuple):
    """What the user, not a spec, said about where keys may go."""

    confirmed: frozenset[str] = frozenset()
    """Hosts confirmed with ``--send-key-to``."""
    named: frozenset[tuple[str, str, int]] = frozenset()
    """Origins (scheme, host, port) of base URLs the user named on a command line."""


_USER: ContextVar[UserEndpoints] = ContextVar(
    "weirdgen_user_endpoints",
    default=UserEndpoints(),  # noqa: B039 (a tuple of frozensets: immutable)
)


@contextmanager
def send_key_to(hosts: Iterable[str] = (), *, base_urls: Iterable[str] = ()) -> Iterator[None]:
    """For the ``with`` block: let a spec's ``base_url`` on one of ``hosts`` receive the key
    its ``api_key_env`` names (what ``--send-key-to HOST`` confirms), and take ``base_urls``
    as the user's own endpoints, as ``$OPENAI_BASE_URL`` is (what a ``--base-url`` flag
    names). Blocks nest; an inner one adds to the outer one's.

    Raises:
        WeirdgenError: a host that is not a bare host name or address.
    """
    outer = _USER.get()
    inner = UserEndpoints(
        outer.confirmed | {confirmed_host(h) for h in hosts},
        outer.named | {_origin(urlsplit(u.strip())) for u in base_urls},
    )
    token = _USER.set(inner)
    try:
        yield
    finally:
        _USER.reset(token)


_KEYLESS: ContextVar[bool] = ContextVar("weirdgen_keyless", default=False)


@contextmanager
def without_key() -> Iterator[None]:
    """For the ``with`` block: ``openai`` backends and judges may be built while their key is
    not set, for code that sends no request (``weirdgen plan``). Where a key may go is still
    checked; a request from such a backend fails with the line a missing key gives."""
    token = _KEYLESS.set(True)
    try:
        yield
    finally:
        _KEYLESS.reset(token)


def key_required() -> bool:
    """Whether a backend built now must have its key (False inside :func:`without_key`)."""
    return not _KEYLESS.get()


def confirmed_host(text: str) -> str:
    """``text`` as a host ``--send-key-to`` names (lower case), or a one-line error."""
    host = text.strip().lower()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        parsed = urlsplit(f"//{host}")
        ok = bool(bare) and parsed.hostname == bare and parsed.port is None
    except ValueError:
        ok = False
    if not ok or any(c in bare for c in "/@?#"):
        raise WeirdgenError(
            f"{CONFIRM_FLAG} {text!r}: give the host alone, as the base_url names it "
            "(judge.example.org, 10.0.0.5), without scheme, port or path"
        )
    return bare


def shown(url: str) -> str:
    """``url`` as messages show it: without any ``user:password@``."""
    try:
        parts = urlsplit(url.strip())
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return "<unreadable URL>"


def url_problem(url: str) -> str | None:
    """What keeps ``url`` from being an endpoint's base URL, or None: not http(s), no host,
    a port out of range, or a ``user:password@`` (the key goes in a header, never in the URL;
    aiohttp refuses both at once)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as error:
        return f"is not a URL ({error}); write it like http://127.0.0.1:8000/v1"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL; write it like http://127.0.0.1:8000/v1"
    if "@" in parts.netloc:
        return (
            "had a user name or password before its host (user:password@, not shown); take it "
            "out: the key is sent in a header, from the variable api_key_env names (default "
            "OPENAI_API_KEY)"
        )
    if not parts.hostname:
        return "names no host; write it like http://127.0.0.1:8000/v1"
    if _NUMERIC.fullmatch(parts.hostname) and not _is_ip(parts.hostname):
        return "is not a canonical IP address (write 127.0.0.1, not 127.1)"
    return None


def check_key_destination(url: str, key_var: str, key_named: bool) -> None:
    """Refuse to send the key in ``$key_var`` to ``url``, a ``base_url`` a spec named, unless
    the key may go there (see the module's docstring).

    Args:
        key_named: whether the spec named ``key_var`` itself (``api_key_env``).

    Raises:
        WeirdgenError: one line naming the host, the key's variable and the flag that
            confirms; the caller adds the spec field it came from.
    """
    parts = urlsplit(url.strip())
    if _allowed(parts):
        return
    host = parts.hostname or ""
    confirmed = host in _USER.get().confirmed
    if not key_named:
        fix = (
            f"{CONFIRM_FLAG} {host} confirms only a key the judge names in api_key_env: name "
            "the variable holding that endpoint's own key there"
            if confirmed
            else f"to use {host}, name the variable holding its own key in the judge's "
            f"api_key_env and pass {CONFIRM_FLAG} {host}"
        )
        raise WeirdgenError(
            f"{shown(url)} would receive your {key_var}, but a spec's base_url gets that key "
            f"only on {PROVIDER_HOST} (https), loopback or the host of your {URL_VAR}; {fix}"
        )
    if not confirmed:
        raise WeirdgenError(
            f"{shown(url)} would receive the key in {key_var} (api_key_env); {host} is not "
            f"{PROVIDER_HOST}, loopback or your {URL_VAR}, so pass {CONFIRM_FLAG} {host} if "
            "you trust it with that key"
        )


def _allowed(parts: SplitResult) -> bool:
    """Whether a key goes to ``parts`` without the user's say-so."""
    origin = _origin(parts)
    if origin == ("https", PROVIDER_HOST, 443) or _loopback(parts.hostname or ""):
        return True
    own = set(_USER.get().named)
    env = os.environ.get(URL_VAR, "").strip()
    if env and url_problem(env) is None:
        own.add(_origin(urlsplit(env)))
    return origin in own


def _loopback(host: str) -> bool:
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _port(parts: SplitResult) -> int:
    try:
        return parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return -1


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    return parts.scheme, parts.hostname or "", _port(parts)
