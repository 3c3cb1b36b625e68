"""A tiny randomly initialised Llama with a word-level tokenizer, for tests and benchmarks.

Nothing is downloaded: the model is built from a config and the tokenizer from a word list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

SPECIAL_TOKENS = ("<pad>", "<unk>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")
THINK_TOKENS = ("<think>", "</think>")

CHAT_TEMPLATE = (
    "{%- for m in messages -%}<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|> {% endif -%}"
)
"""A template without ``{% generation %}`` markers: ``<|role|> content <|end|>`` per turn."""


def write_tiny_model(
    folder: Path,
    words: Sequence[str],
    layers: int = 2,
    hidden: int = 32,
    chat_template: str | None = CHAT_TEMPLATE,
    seed: int = 0,
    think_tokens: bool = True,
) -> Path:
    """Save a random LlamaForCausalLM and its tokenizer (``<|end|>`` ends a turn) to ``folder``.

    Args:
        words: The vocabulary besides special tokens; text is split on whitespace.
        chat_template: Jinja chat template, or None for a tokenizer without one.
        think_tokens: Add ``<think>`` and ``</think>`` as (non-special) tokens.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    think = THINK_TOKENS if think_tokens else ()
    vocab = {t: i for i, t in enumerate(dict.fromkeys([*SPECIAL_TOKENS, *think, *words]))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    backend.add_tokens(list(think))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<|end|>"
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.1,
        pad_token_id=vocab["<pad>"],
        bos_token_id=None,
        eos_token_id=vocab["<|end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
