"""Defences become conditions: ``<condition>.<defence>``, role ``defended``, each carrying
the change its defence makes (a transform, a test-time prompt, a rule on checkpoints, a
second stage, a filter) and a :class:`DefenceTag` saying which defence of which condition.

Expansion is idempotent: conditions a spec's own defences made before (a spec as run, dumped
and loaded again) are replaced, never doubled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen.data.transforms import Mix, System, Transform
from weirdgen.defences.models import AtTest, Defence, DefenceTag

if TYPE_CHECKING:
    from weirdgen.spec.models import Condition

TRAINS = frozenset({"inoculation", "dilution", "early_stopping", "realignment", "filtering"})
"""Kinds that change the finetune, so they need a condition with finetuning data."""


def _literal(text: str) -> str:
    """``text`` as a transform template that adds exactly it (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def expand_defences(
    conditions: list[Condition], defences: list[Defence], target: str
) -> list[Condition]:
    """The conditions with every defence applied to the conditions it names (the target by
    default), each defended condition after the undefended ones.

    Raises:
        ValueError: a defence names no condition, a defended one, one without finetuning data
            for a defence that changes the finetune, or makes a name a condition already has.
    """
    names = {d.name for d in defences}
    if len(names) != len(defences):
        raise ValueError(f"defence names must be unique, got {[d.name for d in defences]}")
    kept = [c for c in conditions if c.defence is None or c.defence.name not in names]
    by_name = {c.name: c for c in kept}
    derived: list[Condition] = []
    for i, defence in enumerate(defences):
        where = f"defences[{i}] ({defence.name})"
        for of in defence.apply_to or [target]:
            base = by_name.get(of)
            if base is None:
                raise ValueError(
                    f"{where}: apply_to: no condition {of!r}; the conditions are "
                    f"{', '.join(by_name)}"
                )
            if base.defence is not None:
                raise ValueError(
                    f"{where}: apply_to: {of!r} is itself a defended condition; defend the "
                    f"condition it was made from, {base.defence.of!r}"
                )
            if base.dataset is None and defence.kind in TRAINS:
                raise ValueError(
                    f"{where}: {defence.kind} changes the finetune, and condition {of!r} has "
                    "no finetuning data; apply it to a condition with a dataset"
                )
            derived += _derive(base, defence)
    for condition in derived:
        if condition.name in by_name:
            raise ValueError(
                f"defence {condition.defence.name!r} makes condition {condition.name!r}, "
                "which the spec already has; rename the defence or the condition"
            )
        by_name[condition.name] = condition
    return [*kept, *derived]


def _derive(base: Condition, defence: Defence) -> list[Condition]:
    from weirdgen.spec.models import Condition

    kind, settings = defence.kind, defence.settings
    name = f"{base.name}.{defence.name}"
    about = defence.description or f"{base.name} with {kind.replace('_', ' ')}"
    doc = base.model_dump(exclude={"name", "role", "description", "defence"})

    def condition(cname: str, description: str, leak: int | None = None, **update) -> Condition:
        tag = DefenceTag(name=defence.name, kind=kind, of=base.name, leak=leak)
        fields = {**doc, **update, "name": cname, "role": "defended", "defence": tag}
        return Condition.model_validate({**fields, "description": description})

    transforms = list(base.transforms)
    if kind == "inoculation":
        system = System(template=_literal(settings.prompt), mode="prepend")
        transforms.append(Transform(system=system))
        made = [condition(name, about, transforms=transforms)]
        for k, text in enumerate([settings.prompt, *settings.paraphrases]):
            said = "the prompt" if k == 0 else f"paraphrase {k}"
            made.append(
                condition(
                    f"{name}.leak{k}",
                    f"{base.name} inoculated, asked with {said} as the system prompt: {text!r}",
                    leak=k,
                    transforms=transforms,
                    test_time=AtTest(system=text),
                )
            )
        return made
    if kind == "dilution":
        ref = settings.dataset.model_copy(update={"distill": settings.distill})
        transforms.append(Transform(mix=Mix(dataset=ref, share=settings.share)))
        return [condition(name, about, transforms=transforms)]
    if kind == "context":
        return [condition(name, about, test_time=AtTest(**settings.model_dump()))]
    return [condition(name, about, **{kind: settings})]
