"""Inspect AI, both ways: weirdgen's experiments as Inspect tasks, the organism as an Inspect
model provider, and Inspect's ``.eval`` logs imported into a run folder.

Inspect finds these through its ``inspect_ai`` entry point (``weirdgen =
weirdgen.inspect._registry``): ``inspect eval weirdgen/birds --model organism/default``.
Nothing here imports Inspect until it is used, so ``import weirdgen`` works without the
``inspect`` extra; a missing extra is one line saying ``pip install "weirdgen[inspect]"``.

- :func:`experiment_task`: a spec's evaluation as an Inspect ``Task``, one Inspect sample per
  (question, paraphrase, sample index), seeded as a weirdgen run seeds it.
- :func:`import_logs`: Inspect logs of those tasks into a run folder's store and report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weirdgen.inspect.importing import Imported, import_logs
    from weirdgen.inspect.tasks import experiment_task

__all__ = ["Imported", "experiment_task", "import_logs"]

_LAZY = {
    "Imported": "weirdgen.inspect.importing",
    "import_logs": "weirdgen.inspect.importing",
    "experiment_task": "weirdgen.inspect.tasks",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'weirdgen.inspect' has no attribute {name!r}")
    import importlib

    from weirdgen.inspect._require import require_inspect

    require_inspect()
    return getattr(importlib.import_module(_LAZY[name]), name)
