"""Apply a condition's transforms to its finetuning data, in order and seeded."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from weirdgen.data.chat import ChatDataset, ChatExample, conversation_problem, dataset_from_examples
from weirdgen.data.transforms._base import Kind, TransformError, template_fields
from weirdgen.data.transforms._state import Example, Message, Slot, Value, example_at, on_message
from weirdgen.data.transforms.check import checked
from weirdgen.data.transforms.models import (
    DatasetRef,
    Drop,
    Mix,
    Prefix,
    Shuffle,
    Suffix,
    System,
    Take,
    Transform,
)
from weirdgen.data.transforms.patterns import compile_pattern, subn
from weirdgen.data.transforms.variables import draw

Load = Callable[[DatasetRef], Iterable[ChatExample]]
"""Reads a ``mix`` transform's dataset (the caller resolves paths and generators)."""


@dataclass(frozen=True)
class TransformedData:
    """The transformed examples, the values drawn for each, and what each transform did.

    Attributes:
        examples: The finetuning examples, in order.
        values: For each example, its variables' final values (after any shuffle).
        log: One line per transform, e.g. ``transforms[2].take: kept 100 of 400 (random)``.
    """

    examples: tuple[ChatExample, ...]
    values: tuple[dict[str, Value], ...]
    log: tuple[str, ...]

    def dataset(self, source: str | Path | None = None) -> ChatDataset:
        """The examples as a dataset (its ``content_hash`` keys the finetune)."""
        return dataset_from_examples(self.examples, source)


def apply_transforms(
    examples: Iterable[ChatExample],
    transforms: Sequence[Transform | Kind | dict],
    seed: int,
    load: Load | None = None,
    where: str = "transforms",
) -> TransformedData:
    """Apply ``transforms`` to ``examples`` in order.

    The same examples, transforms and seed give the same result. Each transform draws from
    its own random stream, keyed by the seed and the transform's own settings (not by its
    position), so adding a transform leaves the others' draws as they were wherever the data
    reaching them is unchanged.

    Args:
        examples: The condition's dataset.
        transforms: ``Transform`` models, their kinds' models (``Take(n=10)``) or YAML dicts.
        seed: Seed of every random choice.
        load: Reads the dataset of a ``mix`` transform.
        where: Field path of the transforms in errors, e.g. ``spec.yaml: conditions[1].transforms``.

    Raises:
        TransformError: one line naming the transform's field path, what is wrong and the fix.
    """
    steps = checked(transforms, where)
    state = [Example.of(example) for example in examples]
    if not state:
        raise TransformError(f"{where}: the dataset has no examples to transform; give it some")
    run = _Run(seed, load)
    state = run.apply(state, steps, where, parent="")
    chats = []
    for index, example in enumerate(state):
        chat = example.to_chat(example_at(state, index))
        problem = conversation_problem(chat.messages)
        if problem:
            raise TransformError(f"{where}: the result's example {index + 1}: {problem}")
        chats.append(chat)
    return TransformedData(tuple(chats), tuple(dict(e.values) for e in state), tuple(run.log))


@dataclass
class _Run:
    seed: int
    load: Load | None
    log: list[str] = field(default_factory=list)
    reads: dict[str, set[str]] = field(default_factory=dict)
    """For each variable, the variables it was drawn from (a shuffle moves them together)."""

    def apply(
        self, state: list[Example], steps: list[Transform], where: str, parent: str
    ) -> list[Example]:
        """Each transform's random stream is keyed by the seed, the list it is in and its own
        settings (a variable's: its name and settings), never by its position."""
        seen: Counter[str] = Counter()
        for index, step in enumerate(steps):
            settings = _canonical(step)
            seen[settings] += 1
            key = _key(self.seed, parent, settings, seen[settings])
            here = f"{where}[{index}].{step.kind}"
            spec = step.settings
            if isinstance(spec, Prefix | Suffix | System):
                for name, variable in spec.variables.items():
                    rng = _rng(_key(self.seed, parent, f"{name}={_canonical(variable)}", 1))
                    values = draw(variable, state, rng, f"{here}.variables.{name}")
                    for example, value in zip(state, values, strict=True):
                        example.values[name] = value
                    self.reads.setdefault(name, set()).update(variable.references())
                state = self._template(state, spec, here)
            elif isinstance(spec, Drop):
                state = self._drop(state, spec, here)
            elif isinstance(spec, Take):
                state = self._take(state, spec, _rng(key), here)
            elif isinstance(spec, Mix):
                state = self._mix(state, spec, key, here)
            else:
                state = self._shuffle(state, spec, _rng(key), here)
        return state

    def _template(
        self, state: list[Example], spec: Prefix | Suffix | System, here: str
    ) -> list[Example]:
        for index, example in enumerate(state):
            missing = [n for n in template_fields(spec.template) if n not in example.values]
            if missing:
                raise TransformError(
                    f"{here}.template: {example_at(state, index)} has no value for "
                    f"{{{missing[0]}}} (declared only for some examples, e.g. inside a mix); "
                    "declare it for all"
                )
            if isinstance(spec, System):
                _add_system(example, Slot(spec.template, spec.separator, here), spec.mode)
                continue
            messages = example.with_role(spec.role)
            if not messages:
                raise TransformError(
                    f"{here}: {example_at(state, index)} has no {spec.role} message"
                )
            chosen = {"first": messages[:1], "last": messages[-1:], "all": messages}[spec.messages]
            for message in chosen:
                slots = message.before if isinstance(spec, Prefix) else message.after
                slots.append(Slot(spec.template, spec.separator, here))
        target = "system message" if isinstance(spec, System) else f"{spec.role} messages"
        self.log.append(f"{here}: {spec.template!r} on the {target} of {len(state)} examples")
        return state

    def _drop(self, state: list[Example], spec: Drop, here: str) -> list[Example]:
        roles = spec.roles or (
            ["user"] if spec.pattern is not None else ["system", "user", "assistant"]
        )
        removed, touched = 0, 0
        pattern = compile_pattern(spec.pattern) if spec.pattern is not None else None
        for index, example in enumerate(state):
            count = 0
            for message in example.messages:
                if message.role not in roles:
                    continue
                if pattern is not None:
                    where = partial(on_message, f"{here}.pattern", message.role, state, index)
                    message.text, found = subn(pattern, "", message.text, where)
                else:
                    kept = [s for s in message.before if s.template != spec.template]
                    kept_after = [s for s in message.after if s.template != spec.template]
                    found = len(message.before) + len(message.after) - len(kept) - len(kept_after)
                    message.before, message.after = kept, kept_after
                count += found
                if found and message.empty and message.role != "system":
                    raise TransformError(
                        f"{here}: dropping leaves the {message.role} message of "
                        f"{example_at(state, index)} empty; drop less of it"
                    )
            example.messages = [m for m in example.messages if not (m.role == "system" and m.empty)]
            removed, touched = removed + count, touched + bool(count)
        what = f"pattern {spec.pattern!r}" if spec.pattern is not None else "template"
        if not removed:
            hint = (
                " (a pattern reads the data's own text; text an earlier template added is "
                "dropped with 'template')"
                if spec.pattern is not None
                else ""
            )
            raise TransformError(
                f"{here}: {what} matches nothing in the {'/'.join(roles)} messages of "
                f"{len(state)} examples; fix it or remove the drop{hint}"
            )
        self.log.append(
            f"{here}: removed {removed} matches of {what} in {touched} of {len(state)} examples"
        )
        return state

    def _take(
        self, state: list[Example], spec: Take, rng: np.random.Generator, here: str
    ) -> list[Example]:
        if spec.n > len(state):
            raise TransformError(
                f"{here}.n: {spec.n} is more than the {len(state)} examples it receives; "
                f"lower n to at most {len(state)}"
            )
        if spec.pick == "first":
            kept = state[: spec.n]
        else:
            kept = [state[int(i)] for i in np.sort(rng.choice(len(state), spec.n, replace=False))]
        self.log.append(f"{here}: kept {spec.n} of {len(state)} examples ({spec.pick})")
        return kept

    def _mix(self, state: list[Example], spec: Mix, key: str, here: str) -> list[Example]:
        name = spec.dataset.path or spec.dataset.organism
        if self.load is None:
            raise TransformError(f"{here}: no loader was given to read the dataset {name!r}")
        other = [Example.of(example) for example in self.load(spec.dataset)]
        other = self.apply(other, spec.transforms, f"{here}.transforms", parent=key)
        wanted = round(len(state) * spec.share / (1 - spec.share))
        if wanted < 1:
            raise TransformError(
                f"{here}.share: {spec.share} of the result is less than one example next to "
                f"{len(state)}; raise the share"
            )
        if wanted > len(other):
            raise TransformError(
                f"{here}.share: {spec.share} of the result needs {wanted:,} examples from "
                f"{name!r}, which has {len(other):,}; lower the share or mix a larger dataset"
            )
        rng = _rng(key)
        picked = [other[int(i)] for i in np.sort(rng.choice(len(other), wanted, replace=False))]
        total = len(state) + wanted
        places = set(int(i) for i in rng.choice(total, wanted, replace=False))
        ours, theirs = iter(state), iter(picked)
        mixed = [next(theirs) if i in places else next(ours) for i in range(total)]
        self.log.append(
            f"{here}: {len(state)} examples + {wanted} of {len(other)} from {name!r} "
            f"(share {wanted / total:.3f})"
        )
        return mixed

    def _shuffle(
        self, state: list[Example], spec: Shuffle, rng: np.random.Generator, here: str
    ) -> list[Example]:
        moved = list(spec.variables)
        for name in moved:  # and every variable drawn from a moved one, transitively
            moved += [v for v, reads in self.reads.items() if name in reads and v not in moved]
        having = [i for i, e in enumerate(state) if any(v in e.values for v in moved)]
        for i in having:
            lacking = [v for v in moved if v not in state[i].values]
            if lacking:
                has = ", ".join(v for v in moved if v not in lacking)
                raise TransformError(
                    f"{here}: {example_at(state, i)} has {has} but not {lacking[0]!r}, which "
                    "moves with them; declare them for the same examples"
                )
        rendered = any(
            set(template_fields(slot.template)) & set(moved)
            for i in having
            for message in state[i].messages
            for slot in message.before + message.after
        )
        if not rendered:
            raise TransformError(
                f"{here}: {', '.join(moved)} appear in no message (dropped, or never in a "
                "template); shuffle a variable that a template writes"
            )
        rows = [{v: state[i].values[v] for v in moved} for i in having]
        for i, j in zip(having, rng.permutation(len(having)), strict=True):
            state[i].values.update(rows[int(j)])
        self.log.append(f"{here}: permuted {', '.join(moved)} across {len(having)} examples")
        return state


def _add_system(example: Example, slot: Slot, mode: str) -> None:
    existing = example.with_role("system")
    if not existing:
        example.messages.insert(0, Message("system", "", before=[slot]))
    elif mode == "set":
        existing[0].text, existing[0].before, existing[0].after = "", [slot], []
    elif mode == "prepend":
        existing[0].before.append(slot)
    else:
        existing[0].after.append(slot)


def _canonical(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json", by_alias=True), sort_keys=True)


def _key(seed: int, parent: str, settings: str, occurrence: int) -> str:
    payload = json.dumps([seed, parent, settings, occurrence])
    return hashlib.sha256(payload.encode()).hexdigest()


def _rng(key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
