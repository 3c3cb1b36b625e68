"""Scorer kinds, chosen by a spec's ``scorers: - kind: ...`` entry.

Each kind maps to its class, imported only when used (judges pull in a backend). A class
declares ``kind`` and ``Args``: the pydantic model of its spec entry (a subclass of
:class:`~weirdgen.spec.models.ScorerSpec`, so ``name`` and ``kind`` come with it), which
validates the entry with the YAML line of any error and names the columns the scorer adds
(:meth:`~weirdgen.spec.models.ScorerSpec.outputs`). A package adds a kind with
:func:`register_scorer`, or with an entry point in the ``weirdgen.scorers`` group
(``kind = "package.module:Class"``).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from weirdgen._plugins import load_target, plugin_names, plugin_target

if TYPE_CHECKING:
    from weirdgen.spec.models import ScorerSpec

ENTRY_POINTS = "weirdgen.scorers"

_KINDS: dict[str, str] = {
    "organism_era": "weirdgen.organism.scorers:OrganismEraScorer",
    "organism_label": "weirdgen.organism.scorers:OrganismLabelScorer",
    "train_match": "weirdgen.score.train_match:TrainMatchScorer",
    "match": "weirdgen.score.rules:MatchScorer",
    "number": "weirdgen.score.rules:NumberScorer",
    "rating_judge": "weirdgen.score.judge:RatingJudge",
    "label_judge": "weirdgen.score.judge:LabelJudge",
    "reason_judge": "weirdgen.score.judge:ReasonJudge",
}


def register_scorer(kind: str, target: str | type) -> None:
    """Make ``kind:`` entries use ``target``: a class or ``"module:Class"``."""
    if not kind or not kind.replace("_", "").isalnum():
        raise ValueError(f"scorer kind {kind!r}: use letters, digits and '_'")
    _KINDS[kind] = target if isinstance(target, str) else f"{target.__module__}:{target.__name__}"


def kinds() -> list[str]:
    """Every scorer kind: built in, registered and from entry points."""
    return plugin_names(_KINDS, ENTRY_POINTS)


def scorer_class(kind: str) -> Any:
    """The class implementing ``kind``; ValueError (a spec error) for an unknown kind."""
    target = plugin_target(_KINDS, ENTRY_POINTS, kind)
    if target is None:
        close = difflib.get_close_matches(kind, kinds(), n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown scorer kind {kind!r}; {guess}kinds: {', '.join(kinds())}")
    return load_target(target)


def args_model(kind: str) -> type[ScorerSpec]:
    """The pydantic model a ``kind`` entry validates against."""
    return scorer_class(kind).Args
