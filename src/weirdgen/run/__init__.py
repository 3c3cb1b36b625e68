"""The orchestrator and the one-screen Python API."""

from weirdgen.run.orchestrator import COMPLETE, RunResult, Work, run_experiment

__all__ = ["COMPLETE", "RunResult", "Work", "run_experiment"]
