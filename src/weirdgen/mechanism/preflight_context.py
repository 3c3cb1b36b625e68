"""In-context exposure: K examples of the dataset as earlier turns of the chat, then an
evaluation question, sampled as ``weirdgen run`` samples it (the same seed per row as the
question asked alone) and scored by the spec's scorers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pandas as pd

from weirdgen.backends import Backend, ModelRef, SampleRequest
from weirdgen.backends.protocol import Chat, key_seed
from weirdgen.data import ChatDataset, ChatExample, ChatMessage
from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import Prompt, sample_key
from weirdgen.run.sample import draw
from weirdgen.score import ScoreItem, Scorer, ScoringContext

MAX_AUTO_K = 16
"""Most examples put in context when K is chosen to fit the organism's context."""
DEFAULT_K = 8
"""Examples in context for a model whose context is not read here (hf, API models)."""


def example_order(dataset: ChatDataset, prompt: Prompt, seed: int, limit: int) -> list[int]:
    """The examples shown before ``prompt``, in the order they are added: a seeded choice
    without repeats, its own for each prompt (so the measure averages over many draws of
    the dataset, not one) and the same on every rerun."""
    rng = random.Random(key_seed("preflight examples", seed, prompt.text))
    return rng.sample(range(len(dataset)), min(limit, len(dataset)))


def in_context_chat(examples: Sequence[ChatExample], prompt: Chat, system_first: bool) -> Chat:
    """``examples`` as earlier turns, then the question's own chat.

    With ``system_first`` (every model but the organism) the question's leading system
    messages open the chat, as templates expect, and an example's system message opens its
    user turn; the organism reads a system message as the opening words of the next user
    turn anyway, so its chat keeps every message where it is.
    """
    turns: list[ChatMessage] = []
    for example in examples:
        turns += _folded(example.messages) if system_first else list(example.messages)
    if not system_first:
        return (*turns, *prompt)
    lead = 0
    while lead < len(prompt) and prompt[lead].role == "system":
        lead += 1
    return (*prompt[:lead], *turns, *prompt[lead:])


def _folded(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """``messages`` with each system message's text put before the next user message's."""
    out: list[ChatMessage] = []
    pending: list[str] = []
    for m in messages:
        if m.role == "system":
            pending.append(m.content)
        elif m.role == "user" and pending:
            out.append(ChatMessage(role="user", content=" ".join([*pending, m.content])))
            pending = []
        else:
            out.append(ChatMessage(role=m.role, content=m.content))
    return out


def fit_k(
    backend: Backend,
    dataset: ChatDataset,
    asked: Sequence[Prompt],
    orders: Sequence[list[int]],
    k: int | None,
    where: str,
) -> int:
    """How many examples go before each question: ``k`` if given, else as many as fit the
    organism's context for every question (at most :data:`MAX_AUTO_K`), else
    :data:`DEFAULT_K`; never more than the dataset holds.

    Raises:
        WeirdgenError: no example fits before some question, or ``k`` does not fit.
    """
    context = getattr(backend, "context", None)
    wanted = min(k if k is not None else MAX_AUTO_K, len(dataset))
    if context is None:
        return min(k if k is not None else DEFAULT_K, len(dataset))
    lengths = [_tokens(backend, e.messages) for e in dataset.examples]
    fits = []
    for p, order in zip(asked, orders, strict=True):
        room = context - p.max_tokens - len(backend.prompt_ids(p.messages))
        used, count = 0, 0
        for index in order[:wanted]:
            if used + lengths[index] > room:
                break
            used, count = used + lengths[index], count + 1
        if count == 0:
            raise WeirdgenError(
                f"{where}: question {p.question.id!r} with max_tokens {p.max_tokens} leaves "
                f"{room} of the organism's {context} tokens, too few for an example of the "
                f"dataset ({min(lengths)} to {max(lengths)} tokens); shorten the question or "
                "the examples"
            )
        fits.append((count, p))
    most, tightest = min(fits, key=lambda f: f[0])
    if k is not None and most < wanted:
        raise WeirdgenError(
            f"--k {k}: with {k} examples before question {tightest.question.id!r} the prompt "
            f"and max_tokens {tightest.max_tokens} exceed the organism's context of "
            f"{context} tokens; give --k {most} or fewer (the most that fit every question)"
        )
    return most


def _tokens(backend: Any, messages: Sequence[ChatMessage]) -> int:
    """Tokens an example adds to an organism chat (its turns without the opening <bos>)."""
    turns = [(m.role, m.content) for m in messages]
    return len(backend.organism.tokenizer.chat(turns).ids) - 1


def sample_arm(
    backend: Backend,
    model: ModelRef,
    asked: Sequence[Prompt],
    seed: int,
    arm: str,
    contexts: Sequence[Chat] | None = None,
    train_answers: frozenset[str] | None = None,
) -> list[dict]:
    """Sample ``model`` on every prompt (``contexts[j]`` sent in place of prompt ``j`` where
    given), n rows per prompt, each with the seed ``weirdgen run`` gives the same row of the
    question asked alone (so the arms differ by what is in context, not by their draws)."""
    planned = []
    for j, p in enumerate(asked):
        sent = contexts[j] if contexts is not None else p.messages
        for i in range(p.n):
            key = sample_key(model.key, p.text, p.temperature, p.max_tokens, seed, i)
            planned.append((p, i, SampleRequest(sent, p.temperature, p.max_tokens, key_seed(key))))
    with backend.serving([model]):
        drawn = draw(backend, model, [r for _, _, r in planned])
    return [
        {
            "condition": arm,
            "role": "control" if arm in ("base", "proxy_base") else "target",
            "seed": seed,
            "eval_set": p.eval_set,
            "question_id": p.question.id,
            "paraphrase_index": p.paraphrase_index,
            "prompt": p.question.paraphrases[p.paraphrase_index],
            "sample_index": i,
            "answer": getattr(d, "text", d),
            **p.question.metadata,
            "_question": p.question,
            "_messages": p.messages,
            "_train": train_answers,
        }
        for (p, i, _), d in zip(planned, drawn, strict=True)
    ]


def score(rows: list[dict], scorers: Sequence[Scorer], context: ScoringContext) -> pd.DataFrame:
    """The rows with every scorer's columns (NaN where a scorer gave no value); each answer
    is scored as the answer to the question alone, whatever was in context."""
    for scorer in scorers:
        columns = scorer.args.columns()
        mine = [row for row in rows if scorer.args.scores(row["eval_set"])]
        for start in range(0, len(mine), scorer.batch_size):
            batch = mine[start : start + scorer.batch_size]
            items = [
                ScoreItem(r["_question"], r["answer"], r["_train"], r["_messages"], r["eval_set"])
                for r in batch
            ]
            for row, values in zip(batch, scorer.score_batch(items, context), strict=True):
                for output, column in columns.items():
                    value = (values or {}).get(output)
                    row[column] = float("nan") if value is None else value
    frame = pd.DataFrame(rows)
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
