"""Finetuning datasets as chat JSONL (the OpenAI finetuning format), checked line by line."""

from weirdgen.data.chat import (
    ROLES,
    ChatDataset,
    ChatExample,
    ChatMessage,
    Duplicate,
    Role,
    assistant_answers,
    dataset_from_examples,
)
from weirdgen.data.jsonl import load_chat_jsonl, write_chat_jsonl

__all__ = [
    "ROLES",
    "ChatDataset",
    "ChatExample",
    "ChatMessage",
    "Duplicate",
    "Role",
    "assistant_answers",
    "dataset_from_examples",
    "load_chat_jsonl",
    "write_chat_jsonl",
]
