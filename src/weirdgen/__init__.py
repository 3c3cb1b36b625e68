"""weirdgen: weird-generalization and inductive-backdoor experiments on language models.

The one-screen API for research scripts::

    import weirdgen
    result = weirdgen.run_experiment(weirdgen.load_spec("birds"))
    result.samples  # one row per sampled answer, with its scores
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RunResult", "list_specs", "load_spec", "run_experiment"]

if TYPE_CHECKING:
    from weirdgen.run import RunResult, run_experiment
    from weirdgen.spec import list_specs, load_spec


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `weirdgen --help` does not load torch and pandas.
    if name in ("run_experiment", "RunResult"):
        import weirdgen.run

        return getattr(weirdgen.run, name)
    if name in ("load_spec", "list_specs"):
        import weirdgen.spec

        return getattr(weirdgen.spec, name)
    raise AttributeError(f"module 'weirdgen' has no attribute {name!r}")
