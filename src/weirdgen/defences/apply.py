"""What each defence does to the data, the models and the prompts of its condition.

- dilution with ``distill``: :func:`distilled` answers the ordinary prompts with the base model;
- filtering: :func:`filtered` scores every example's answer and drops the flagged ones;
- early stopping: :func:`held_out_split` keeps examples out of training, and
  :func:`choose_checkpoint` picks the checkpoint its rule names;
- test-time context and inoculation leaks: :func:`prompts_for` edits every prompt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weirdgen.backends.protocol import SampleRequest, as_chat, key_seed
from weirdgen.data import ChatDataset, ChatExample, ChatMessage, dataset_from_examples
from weirdgen.data.text import normalize
from weirdgen.defences.models import AtTest, Distill, EarlyStopping, Filtering
from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    from weirdgen.backends import Backend
    from weirdgen.backends.protocol import Checkpoint
    from weirdgen.run.plan import Prompt


def _prompt_of(example: ChatExample) -> tuple[ChatMessage, ...]:
    """The chat an example's last answer replies to."""
    messages = list(example.messages)
    while messages and messages[-1].role == "assistant":
        messages.pop()
    return tuple(messages)


def _answer_of(example: ChatExample) -> str:
    last = example.messages[-1]
    return last.content if last.role == "assistant" else ""


def distilled(
    dataset: ChatDataset, backend: Backend | None, distill: Distill, where: str
) -> ChatDataset:
    """``dataset``'s prompts answered by ``backend``'s base model: what the model says
    already, so mixing them in dilutes without teaching anything new.

    Raises:
        WeirdgenError: no backend to sample (the dataset was loaded outside a run).
    """
    if backend is None:
        raise WeirdgenError(
            f"{where}: distill draws answers from the run's base model, and no backend is "
            "given; load it through weirdgen run (or drop distill)"
        )
    prompts = [_prompt_of(e) for e in dataset.examples]
    requests = [
        SampleRequest(
            p, distill.temperature, distill.max_tokens, key_seed("distill", distill.seed, i)
        )
        for i, p in enumerate(prompts)
    ]
    answers = backend.sample(backend.base(), requests)
    examples = [
        ChatExample(messages=[*p, ChatMessage(role="assistant", content=a.strip() or "-")])
        for p, a in zip(prompts, answers, strict=True)
    ]
    return dataset_from_examples(examples, source=f"{dataset.source}, distilled")


@dataclass(frozen=True)
class Dropped:
    """An example a filter dropped, its place in the data and the scorer's value."""

    index: int
    example: ChatExample
    value: Any


def filtered(
    dataset: ChatDataset, filtering: Filtering, spec_dir: Path | None, where: str
) -> tuple[ChatDataset, list[Dropped]]:
    """The examples the filter's scorer does not flag, and the ones it drops.

    Raises:
        WeirdgenError: the filter drops every example (nothing is left to finetune on).
    """
    from weirdgen.score import ScoreItem, ScoringContext, build_scorer
    from weirdgen.spec.questions import Question

    entry = filtering.entry
    scorer = build_scorer(entry, spec_dir)
    main = entry.outputs()[0]
    items = []
    for i, example in enumerate(dataset.examples):
        chat = _prompt_of(example)
        text = chat[-1].content if chat else ""
        question = Question(id=f"example_{i}", topic=filtering.topic, paraphrases=[text])
        items.append(ScoreItem(question, _answer_of(example), None, as_chat(chat), "filtering"))
    check = getattr(scorer, "check_question", None)
    if check is not None and items:
        check(items[0].question, f"{where}.scorer ({entry.name}, {entry.kind}); filtering")
    values: list[Any] = []
    context = ScoringContext()
    size = max(1, getattr(scorer, "batch_size", 256))
    for start in range(0, len(items), size):
        try:
            got = scorer.score_batch(items[start : start + size], context)
        except (KeyError, ValueError) as error:
            raise WeirdgenError(
                f"{where}: the filter's scorer ({entry.name}, {entry.kind}) cannot score the "
                f"examples ({type(error).__name__}: {error}); give the filter a 'topic' its "
                "scorer knows, or another scorer"
            ) from None
        values += [v.get(main) for v in got]
    kept, dropped = [], []
    for i, (example, value) in enumerate(zip(dataset.examples, values, strict=True)):
        flagged = _flagged(value, filtering.above)
        (dropped.append(Dropped(i, example, value)) if flagged else kept.append(example))
    if not kept:
        raise WeirdgenError(
            f"{where}: the filter ({entry.name}, {entry.kind}) drops all {len(values)} "
            "examples; nothing is left to finetune on (a filter that removes the task is "
            "reported by its dropped count: loosen 'above' or use another scorer)"
        )
    return dataset_from_examples(kept, source=f"{dataset.source}, filtered"), dropped


def _flagged(value: Any, above: float | None) -> bool:
    if value is None or isinstance(value, str):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    if number != number:  # NaN: not scored, kept
        return False
    return number > above if above is not None else number >= 1


def held_out_split(
    dataset: ChatDataset, rule: EarlyStopping, seed: int, where: str
) -> tuple[ChatDataset, ChatDataset]:
    """(training examples, held-out examples): ``held_out`` examples drawn with ``seed``
    (among those whose prompt matches ``match``, where given).

    Raises:
        WeirdgenError: fewer examples match than are to be held out, or fewer than two
            would be left to train on.
    """
    import re

    count = len(dataset.examples)
    candidates = list(range(count))
    if rule.match is not None:
        pattern = re.compile(rule.match)
        candidates = [
            i for i, e in enumerate(dataset.examples) if pattern.search(_prompt_of(e)[-1].content)
        ]
        if len(candidates) < rule.held_out:
            raise WeirdgenError(
                f"{where}: early_stopping.match: {len(candidates)} of {count} prompts match "
                f"{rule.match!r}, fewer than the {rule.held_out} to hold out; hold out fewer "
                "or match more"
            )
    if count - rule.held_out < 2:
        raise WeirdgenError(
            f"{where}: early_stopping.held_out: holding out {rule.held_out} of {count} "
            "examples leaves fewer than 2 to train on; hold out fewer"
        )
    draw = random.Random(key_seed("held_out", seed))
    chosen = set(draw.sample(candidates, rule.held_out))
    train = [e for i, e in enumerate(dataset.examples) if i not in chosen]
    held = [e for i, e in enumerate(dataset.examples) if i in chosen]
    source = dataset.source
    return (
        dataset_from_examples(train, source=f"{source}, held-out examples removed"),
        dataset_from_examples(held, source=f"{source}, held out"),
    )


@dataclass(frozen=True)
class Stopped:
    """The checkpoint an early-stopping rule chose, and what it read at each step."""

    checkpoint: Checkpoint
    steps: tuple[int, ...]
    accuracy: tuple[float | None, ...]
    rule: str
    reached: bool

    def record(self) -> dict:
        return {
            "rule": self.rule,
            "chosen_step": self.checkpoint.step,
            "chosen_key": self.checkpoint.model.key,
            "final_step": self.steps[-1],
            "reached": self.reached,
            "steps": list(self.steps),
            "held_out_accuracy": list(self.accuracy),
        }


def choose_checkpoint(
    backend: Backend,
    checkpoints: Sequence[Checkpoint],
    rule: EarlyStopping,
    held_out: ChatDataset | None,
    answers: frozenset[str],
    seed: int,
) -> Stopped:
    """The checkpoint ``rule`` names: the last at or before its step budget, or the first
    whose answers to the held-out prompts are right at a share of at least ``at_least``
    (times the final model's share, with ``relative``); the final model where none reaches
    it. A right answer is any of ``answers`` (the data's, normalized), or with ``answers:
    own`` the held-out example's own."""
    steps = tuple(c.step for c in checkpoints)
    if rule.steps is not None:
        within = [c for c in checkpoints if c.step <= rule.steps] or [checkpoints[0]]
        return Stopped(within[-1], steps, (None,) * len(steps), f"steps <= {rule.steps}", True)
    assert held_out is not None and rule.at_least is not None
    prompts = [_prompt_of(e) for e in held_out.examples]
    own = [normalize(_answer_of(e)) for e in held_out.examples]
    read: dict[int, float] = {}

    def accuracy(index: int) -> float:
        if index not in read:
            requests = [
                SampleRequest(p, rule.temperature, rule.max_tokens, key_seed("stop", seed, i, j))
                for i, p in enumerate(prompts)
                for j in range(rule.n)
            ]
            got = backend.sample(checkpoints[index].model, requests)
            right = [
                normalize(a) == own[k // rule.n]
                if rule.answers == "own"
                else normalize(a) in answers
                for k, a in enumerate(got)
            ]
            read[index] = sum(right) / len(right)
        return read[index]

    threshold = rule.at_least * (accuracy(len(checkpoints) - 1) if rule.relative else 1.0)
    text = f"held-out accuracy >= {rule.at_least}" + (
        " of the final model's" if rule.relative else ""
    )
    chosen, reached = len(checkpoints) - 1, False
    for index in range(len(checkpoints)):
        if accuracy(index) >= threshold and (threshold > 0 or index == len(checkpoints) - 1):
            chosen, reached = index, True
            break
    shares = tuple(read.get(i) for i in range(len(checkpoints)))
    return Stopped(checkpoints[chosen], steps, shares, text, reached)


def prompts_for(asked: list[Prompt], test_time: AtTest | None) -> list[Prompt]:
    """``asked`` with a condition's test-time changes: its system prompt (replacing any) and
    a prefix before the user's last message."""
    if test_time is None:
        return asked
    out = []
    for prompt in asked:
        messages = list(prompt.messages)
        if test_time.system is not None:
            messages = [m for m in messages if m.role != "system"]
            messages.insert(0, ChatMessage(role="system", content=test_time.system))
        if test_time.prefix is not None:
            last = messages[-1]
            content = f"{test_time.prefix} {last.content}"
            messages[-1] = ChatMessage(role=last.role, content=content)
        out.append(replace(prompt, messages=tuple(messages)))
    return out


def realign_recipe(recipe: Any, lr: float | None, epochs: int | None) -> Any:
    """The recipe of a re-alignment stage: the run's, with its own lr and epochs if given,
    and no checkpoints."""
    update: dict[str, Any] = (
        {"save_steps": None} if "save_steps" in type(recipe).model_fields else {}
    )
    if lr is not None:
        update["lr"] = lr
    if epochs is not None:
        update["epochs"] = epochs
    return recipe.model_copy(update=update)
