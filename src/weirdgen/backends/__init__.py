"""Backends, chosen by a ``provider/name`` model string as Inspect AI names models.

Each provider name maps to the class that implements it, imported only when it is used
(the hf and tinker backends pull in heavy libraries). Each class declares its own recipe
section and behaviour (see :class:`~weirdgen.backends.protocol.Backend`). A package can add
a provider with :func:`register_backend`, or with an entry point in the
``weirdgen.backends`` group (``name = "package.module:Class"``).
"""

from __future__ import annotations

from weirdgen._plugins import load_target, plugin_names, plugin_target
from weirdgen.backends.protocol import Backend, ModelRef, SampleRequest
from weirdgen.errors import WeirdgenError

ENTRY_POINTS = "weirdgen.backends"

_PROVIDERS: dict[str, str] = {
    "organism": "weirdgen.backends.organism:OrganismBackend",
    "hf": "weirdgen.backends.hf:HfBackend",
    "openai": "weirdgen.backends.openai:OpenAIBackend",
    "vllm": "weirdgen.backends.vllm:VllmBackend",
    "tinker": "weirdgen.backends.tinker:TinkerBackend",
}


def register_backend(provider: str, target: str) -> None:
    """Make ``provider/name`` models use the class ``target`` (``"module:Class"``), which is
    called with the name (the part after the first '/')."""
    if "/" in provider or not provider:
        raise ValueError(f"provider {provider!r}: a name without '/'")
    _PROVIDERS[provider] = target


def providers() -> list[str]:
    """Every provider name: the built-in ones, registered ones and entry points."""
    return plugin_names(_PROVIDERS, ENTRY_POINTS)


def get_backend(model: str) -> Backend:
    """The backend for ``provider/name``; the name is the provider's model (or a path)."""
    provider, _, name = model.partition("/")
    target = plugin_target(_PROVIDERS, ENTRY_POINTS, provider)
    if target is None:
        raise WeirdgenError(
            f"model {model!r}: unknown provider {provider!r}; write provider/name with provider "
            f"one of: {', '.join(providers())}"
        )
    return load_target(target)(name)


__all__ = [
    "Backend",
    "ModelRef",
    "SampleRequest",
    "get_backend",
    "providers",
    "register_backend",
]
