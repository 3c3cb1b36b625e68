"""Backends, chosen by a ``provider/name`` model string as Inspect AI names models."""

from __future__ import annotations

from weirdgen.backends.protocol import Backend, ModelRef, SampleRequest
from weirdgen.errors import WeirdgenError

PROVIDERS = ("organism", "openai", "hf", "vllm", "tinker")


def get_backend(model: str) -> Backend:
    """The backend for ``provider/name``; the name is the provider's model (or a path)."""
    provider, _, name = model.partition("/")
    if provider == "organism":
        from weirdgen.backends.organism import OrganismBackend

        return OrganismBackend(name or "default")
    if provider == "hf":
        from weirdgen.backends.hf import HfBackend

        return HfBackend(name)
    if provider == "openai":
        from weirdgen.backends.openai import OpenAIBackend

        return OpenAIBackend(name)
    if provider == "vllm":
        from weirdgen.backends.vllm import VllmBackend

        return VllmBackend(name)
    if provider == "tinker":
        from weirdgen.backends.tinker import TinkerBackend

        return TinkerBackend(name)
    raise WeirdgenError(
        f"model {model!r}: unknown provider {provider!r}; write provider/name with provider "
        f"one of: {', '.join(PROVIDERS)}"
    )


__all__ = ["Backend", "ModelRef", "SampleRequest", "get_backend"]
