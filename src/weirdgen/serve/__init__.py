"""``weirdgen serve``: a local backend's models behind an OpenAI-compatible HTTP API.

``GET /v1/models`` and ``POST /v1/chat/completions`` (one user message; ``n``,
``temperature``, ``max_tokens``/``max_completion_tokens``, ``seed``, ``logprobs``/
``top_logprobs``), so Inspect, llmcomp, curl or the ``openai`` client can query the organism
and its finetunes. Concurrent requests are drawn together in one batch.
"""

from weirdgen.serve.api import choice_seeds
from weirdgen.serve.app import create_app
from weirdgen.serve.engine import (
    Completion,
    Engine,
    OrganismEngine,
    RequestError,
    TokenLogprob,
)
from weirdgen.serve.server import run_server, serve_in_background

__all__ = [
    "Completion",
    "Engine",
    "OrganismEngine",
    "RequestError",
    "TokenLogprob",
    "choice_seeds",
    "create_app",
    "run_server",
    "serve_in_background",
]
