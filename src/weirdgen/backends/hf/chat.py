"""Chats through a tokenizer's own chat template: prompts, and labels on assistant tokens only.

Assistant spans are found without ``{% generation %}`` markers, so any template works
(Qwen3-style ones included): the conversation is rendered prefix by prefix, and turn ``j``'s
span runs from the end of ``messages[:j]`` rendered with the generation prompt to the end of
``messages[:j + 1]``, both located in the text of the whole conversation. When a template
renders the final turn differently from earlier ones (as Qwen3 adds an empty think block to
the last assistant turn only), the turn's end is found by its content and the end-of-turn text
that follows it. Character spans become token labels through the tokenizer's offsets: a
token is trained on when it starts inside a span.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from weirdgen.data import ChatDataset, ChatMessage
from weirdgen.errors import WeirdgenError

IGNORE = -100
"""The label of a token that carries no loss (the Hugging Face convention)."""

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


class ChatTokens(NamedTuple):
    """One tokenized conversation: ``labels`` equal ``input_ids`` on assistant tokens only."""

    input_ids: list[int]
    labels: list[int]


def render(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    where: str,
    add_generation_prompt: bool = False,
    **template_vars: Any,
) -> str:
    """The conversation as the tokenizer's chat template writes it."""
    if not getattr(tokenizer, "chat_template", None):
        raise WeirdgenError(
            f"{where}: the tokenizer has no chat template; use a chat (instruct) model, or add "
            "'chat_template' to its tokenizer_config.json (or a chat_template.jinja file)"
        )
    try:
        return tokenizer.apply_chat_template(
            list(messages),
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            **template_vars,
        )
    except Exception as error:  # jinja2 errors and the template's own raise_exception
        raise WeirdgenError(
            f"{where}: the chat template cannot render this conversation "
            f"({type(error).__name__}: {error}); check the roles and their order"
        ) from error


def prompt_ids(
    tokenizer: Any, prompt: Sequence[ChatMessage] | str, where: str, **template_vars: Any
) -> list[int]:
    """Token ids of a prompt (a chat, or one user message's text) through the chat template,
    ending with the assistant's generation prompt."""
    if isinstance(prompt, str):
        prompt = [ChatMessage(role="user", content=prompt)]
    turns = [{"role": m.role, "content": m.content} for m in prompt]
    text = render(tokenizer, turns, where, True, **template_vars)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def check_prompts(
    tokenizer: Any, prompts: Sequence[Sequence[ChatMessage] | str], where: str
) -> None:
    """Raise WeirdgenError if a prompt cannot be rendered with the chat template."""
    for prompt in prompts:
        shown = prompt if isinstance(prompt, str) else prompt[-1].content
        prompt_ids(tokenizer, prompt, f"{where}: prompt {shown!r}")


def check_dataset(tokenizer: Any, dataset: ChatDataset, where: str) -> None:
    """Raise WeirdgenError, naming the example's file:line, if one cannot be encoded."""
    for i, example in enumerate(dataset.examples):
        encode_chat(tokenizer, example.messages, f"{where}: {dataset.place(i)}")


def encode_chat(
    tokenizer: Any,
    messages: Sequence[ChatMessage],
    where: str,
    max_length: int | None = None,
    max_length_field: str = "train.hf.max_length",
) -> ChatTokens:
    """Tokenize a conversation with loss on its assistant turns only.

    An assistant message with OpenAI's ``weight: 0`` is context, not a target. Tokens past
    ``max_length`` are dropped; it is an error (naming ``max_length_field``) when no
    assistant token is left.
    """
    turns = [{"role": m.role, "content": m.content} for m in messages]
    full = render(tokenizer, turns, where)
    spans = [
        _assistant_span(tokenizer, turns, j, full, where)
        for j, m in enumerate(messages)
        if m.role == "assistant" and getattr(m, "weight", 1) != 0
    ]
    ids, starts = _tokens_and_starts(tokenizer, full, [s for span in spans for s in span])
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE
        for token, begin in zip(ids, starts, strict=True)
    ]
    if not any(label != IGNORE for label in labels):
        raise WeirdgenError(
            f"{where}: no assistant token to train on; the chat template renders no text for "
            "the assistant messages (or every one has weight 0)"
        )
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
        if all(label == IGNORE for label in labels):
            raise WeirdgenError(
                f"{where}: the conversation is {len(starts)} tokens and its "
                f"answer starts after {max_length_field}={max_length}; raise it "
                "or shorten the example"
            )
    return ChatTokens(ids, labels)


def _tokens_and_starts(
    tokenizer: Any, text: str, boundaries: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` and the character each token starts at.

    Fast tokenizers give offsets. Otherwise each span boundary is placed by tokenizing the text
    up to it (a token-id diff of prefixes): tokens before it count as starting before it.
    """
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(encoded["input_ids"]), [begin for begin, _ in encoded["offset_mapping"]]
    except (NotImplementedError, ValueError, TypeError):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    starts = [len(text)] * len(ids)
    for boundary in sorted(set(boundaries), reverse=True):
        count = len(tokenizer(text[:boundary], add_special_tokens=False)["input_ids"])
        starts[:count] = [min(s, boundary - 1) for s in starts[:count]]
    return ids, starts


def _assistant_span(
    tokenizer: Any, turns: list[dict[str, str]], j: int, full: str, where: str
) -> tuple[int, int]:
    """Character span of assistant turn ``j`` (its text and end-of-turn marker) in ``full``."""
    prompt = render(tokenizer, turns[:j], where, add_generation_prompt=True)
    if not full.startswith(prompt):
        raise WeirdgenError(
            f"{where}: the chat template writes messages[{j}]'s prompt differently from the "
            "same turns inside the whole conversation, so its assistant tokens cannot be "
            "located; use a template that renders conversations prefix-consistently"
        )
    turn = render(tokenizer, turns[: j + 1], where)
    if len(turn) > len(prompt) and full.startswith(turn):
        return len(prompt), len(turn)
    content = turns[j]["content"].strip()
    at = full.find(content, len(prompt))
    if at < 0 or content not in turn:
        raise WeirdgenError(
            f"{where}: the chat template changes the text of messages[{j}] (assistant), so its "
            "tokens cannot be located in the rendered conversation"
        )
    end = at + len(content)
    tail = turn[turn.rfind(content) + len(content) :]
    return len(prompt), end + len(os.path.commonprefix([tail, full[end : end + len(tail)]]))


def strip_thinking(text: str) -> str:
    """The answer without reasoning blocks: ``<think>...</think>`` removed, an unclosed one cut.

    A lone ``</think>`` (when the generation prompt itself opened the block) ends the thinking.
    """
    text = _THINK.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()
