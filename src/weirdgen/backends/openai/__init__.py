"""The ``openai`` backend: any OpenAI-compatible endpoint for sampling, and the OpenAI
fine-tuning API for finetuning.

``client`` is the retried HTTP layer, ``backend`` the Backend itself, ``finetune`` the job
lifecycle (upload, create, poll, resume), ``keys`` where an endpoint's key may be sent.
"""

from weirdgen.backends.openai.backend import MIN_FINETUNE_EXAMPLES, OpenAIBackend, Usage
from weirdgen.backends.openai.client import (
    CONCURRENCY_VAR,
    DEFAULT_BASE_URL,
    KEY_VAR,
    POLL_VAR,
    URL_VAR,
)
from weirdgen.backends.openai.keys import send_key_to
from weirdgen.backends.protocol import SamplingFailed

__all__ = [
    "CONCURRENCY_VAR",
    "DEFAULT_BASE_URL",
    "KEY_VAR",
    "MIN_FINETUNE_EXAMPLES",
    "POLL_VAR",
    "URL_VAR",
    "OpenAIBackend",
    "SamplingFailed",
    "Usage",
    "send_key_to",
]
