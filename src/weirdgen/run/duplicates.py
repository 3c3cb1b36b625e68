"""The run's warning for training data that repeats examples.

A repeated example is trained on as often as it appears, so a file with duplicates weighs
those examples more than its line count suggests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from weirdgen.run.plan import PreparedCondition


def duplicate_warnings(conditions: Iterable[PreparedCondition]) -> list[str]:
    """One line per training file (a ``path`` or ``paper`` dataset) whose examples repeat, as
    trained on (after the condition's transforms): how many repeats, distinct of all.
    Conditions that train on the same data share a line. The organism's generators repeat
    their small world's examples by design, so they are not warned about."""
    by_data: dict[tuple[str, str], tuple[PreparedCondition, list[str]]] = {}
    for prepared in conditions:
        ref = prepared.condition.dataset
        if prepared.dataset is None or ref is None or ref.organism is not None:
            continue
        label = ref.path if ref.path is not None else f"paper file {ref.paper}"
        if prepared.condition.transforms:
            label += " after its transforms"
        key = (label, prepared.dataset.content_hash)
        by_data.setdefault(key, (prepared, []))[1].append(prepared.condition.name)
    warnings = []
    for (label, _), (prepared, names) in by_data.items():
        dataset = prepared.dataset
        assert dataset is not None
        repeats = sum(d.count - 1 for d in dataset.duplicates())
        if repeats:
            whose = f"condition{'s' if len(names) > 1 else ''} {', '.join(names)}"
            many = repeats > 1
            warnings.append(
                f"{label} ({whose}) has {repeats} duplicate example{'s' if many else ''} "
                f"({len(dataset) - repeats} distinct of {len(dataset)}); "
                + (
                    "they are trained on as often as they appear"
                    if many
                    else "it is trained on twice"
                )
            )
    return warnings


def warn_duplicates(conditions: Iterable[PreparedCondition], warn: Callable[[str], None]) -> None:
    """Pass each of :func:`duplicate_warnings` to ``warn`` (the run's console)."""
    for line in duplicate_warnings(conditions):
        warn(line)
