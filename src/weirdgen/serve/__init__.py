"""``weirdgen serve``: a local backend's models behind an OpenAI-compatible HTTP API.

``GET /v1/models``, ``POST /v1/chat/completions`` (system and multi-turn messages, ``n``,
``temperature``, ``max_tokens``, ``seed``, ``logprobs``, ``stop``, ``stream``),
``POST /v1/completions`` and ``POST /v1/responses``, so Inspect, llmcomp, curl or the
``openai`` client can query the organism and its finetunes, or a Hugging Face model of the
``hf`` backend (:class:`HfEngine`, e.g. a local LLM judge); an optional API key.
Concurrent requests are drawn together in one batch. With
:class:`FineTuning`, OpenAI's file and fine-tuning endpoints train the organism, within
:class:`FineTuningLimits`; :class:`ServerLimits` bound the connections (slowloris).

The names below are imported when first used, so that ``weirdgen --help`` (which reads the
serve command's limits from :mod:`.limits`) does not load torch and aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weirdgen.serve.api import choice_seeds
    from weirdgen.serve.app import create_app
    from weirdgen.serve.engine import (
        Completion,
        Engine,
        OrganismEngine,
        RequestError,
        TokenLogprob,
    )
    from weirdgen.serve.finetuning import FineTuning
    from weirdgen.serve.hf_engine import HfEngine
    from weirdgen.serve.limits import FineTuningLimits, ServerLimits
    from weirdgen.serve.server import run_server, serve_in_background

_WHERE = {
    "Completion": "engine",
    "Engine": "engine",
    "FineTuning": "finetuning",
    "FineTuningLimits": "limits",
    "HfEngine": "hf_engine",
    "OrganismEngine": "engine",
    "RequestError": "engine",
    "ServerLimits": "limits",
    "TokenLogprob": "engine",
    "choice_seeds": "api",
    "create_app": "app",
    "run_server": "server",
    "serve_in_background": "server",
}

__all__ = [
    "Completion",
    "Engine",
    "FineTuning",
    "FineTuningLimits",
    "HfEngine",
    "OrganismEngine",
    "RequestError",
    "ServerLimits",
    "TokenLogprob",
    "choice_seeds",
    "create_app",
    "run_server",
    "serve_in_background",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
