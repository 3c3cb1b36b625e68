"""Token counts of prompts and datasets: exact with the backend's own tokenizer where one is
at hand without loading a model (the organism's), else estimated from characters."""

from __future__ import annotations

import math

from weirdgen.backends import Backend
from weirdgen.backends.protocol import Chat
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError

CHARS_PER_TOKEN = 4
"""The estimate's characters per token (OpenAI's rule of thumb for English text)."""
MESSAGE_TOKENS = 3
"""Tokens the estimate adds per message (role and separators) and once per chat (the
assistant's reply header), as OpenAI's chat format spends them."""


def estimate_text(text: str) -> int:
    """Estimated tokens of ``text``: one per ``CHARS_PER_TOKEN`` characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_chat(messages: Chat) -> int:
    """Estimated tokens of a chat sent to an API model."""
    return sum(estimate_text(m.content) + MESSAGE_TOKENS for m in messages) + MESSAGE_TOKENS


class TokenCounter:
    """Counts the tokens a backend's model reads; ``exact`` is False once any count was an
    estimate (shown with ``~``)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tokenizer = backend.name == "organism"  # a word-level vocabulary: cheap to load
        self.exact = self.tokenizer
        self._chats: dict[Chat, int] = {}

    def chat(self, messages: Chat) -> int:
        """Tokens of the prompt ``messages`` as the model reads it (cached per chat)."""
        known = self._chats.get(messages)
        if known is None:
            known = self._chats[messages] = self._count(messages)
        return known

    def _count(self, messages: Chat) -> int:
        if self.tokenizer:
            try:
                return len(self.backend.prompt_ids(messages))  # type: ignore[attr-defined]
            except WeirdgenError:  # words outside its vocabulary (a judge prompt): estimate
                pass
        self.exact = False
        return estimate_chat(messages)

    def dataset(self, dataset: ChatDataset) -> int:
        """Tokens of every example of ``dataset`` (one epoch of training)."""
        if self.tokenizer:
            tokenizer = self.backend.organism.tokenizer  # type: ignore[attr-defined]
            try:
                return sum(
                    len(tokenizer.chat([(m.role, m.content) for m in e.messages]).ids)
                    for e in dataset.examples
                )
            except WeirdgenError:
                pass
        self.exact = False
        return sum(estimate_chat(e.messages) for e in dataset.examples)
