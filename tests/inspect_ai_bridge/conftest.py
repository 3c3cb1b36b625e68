"""Small specs for the Inspect bridge's tests, and their logs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

pytest.importorskip("inspect_ai")


def small_birds(birds_spec: dict, name: str = "tiny_birds") -> dict:
    """The birds spec asking two unrelated questions, once per paraphrase."""
    spec = dict(birds_spec, name=name)
    unrelated = next(s for s in spec["evaluation"]["sets"] if s["name"] == "unrelated")
    spec["evaluation"] = {
        "n": 1,
        "temperature": 1.0,
        "max_tokens": 8,
        "sets": [{"name": "unrelated", "questions": unrelated["questions"][:2]}],
    }
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] == "unrelated"]
    spec["seeds"] = 1
    return spec


@pytest.fixture
def tiny_spec(tmp_path: Path, spec_dict) -> Callable[..., Path]:
    """Write a small birds spec (named ``name``) and return its path."""

    def write(name: str = "tiny_birds") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(small_birds(spec_dict(), name)))
        return path

    return write


@pytest.fixture
def evaluate(tmp_path: Path) -> Callable[..., Path]:
    """Run ``inspect_ai.eval`` offline into tmp_path/logs; the log's path."""
    from inspect_ai import eval as inspect_eval

    def run(task, model: str = "organism/default", **kwargs) -> Path:
        logs = inspect_eval(
            task, model=model, log_dir=str(tmp_path / "logs"), display="none", **kwargs
        )
        return Path(logs[0].location)

    return run
