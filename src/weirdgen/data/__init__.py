"""Finetuning datasets as chat JSONL (the OpenAI finetuning format), checked line by line,
and the transforms that build triggers, controls and dilutions from them."""

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
from weirdgen.data.jsonl import (
    MAX_LINE_CHARS,
    ChatLineProblem,
    load_chat_jsonl,
    parse_chat_line,
    write_chat_jsonl,
)
from weirdgen.data.transforms import (
    Transform,
    TransformedData,
    TransformError,
    apply_transforms,
    check_transforms,
)

__all__ = [
    "MAX_LINE_CHARS",
    "ROLES",
    "ChatDataset",
    "ChatExample",
    "ChatLineProblem",
    "ChatMessage",
    "Duplicate",
    "Role",
    "Transform",
    "TransformError",
    "TransformedData",
    "apply_transforms",
    "assistant_answers",
    "check_transforms",
    "dataset_from_examples",
    "load_chat_jsonl",
    "parse_chat_line",
    "write_chat_jsonl",
]
