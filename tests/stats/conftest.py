"""Hand-built samples tables with the run/schema.py columns plus valid and old."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from weirdgen.run.schema import SAMPLE_COLUMNS

Answer = float | None
"""One sampled answer's old score; None stands for an invalid answer (valid False, old NaN)."""


def _rows(
    condition: str,
    seed: int,
    question_id: str,
    answers: list[Answer],
    role: str | None = None,
    eval_set: str = "main",
) -> list[dict[str, object]]:
    role = role or ("target" if condition == "target" else "control")
    return [
        {
            "experiment": "synthetic",
            "condition": condition,
            "role": role,
            "seed": seed,
            "model_key": f"{condition}-{seed}",
            "eval_set": eval_set,
            "question_id": question_id,
            "paraphrase_index": 0,
            "prompt": f"{question_id}?",
            "sample_index": index,
            "answer": "answer",
            "valid": answer is not None,
            "old": np.nan if answer is None else float(answer),
        }
        for index, answer in enumerate(answers)
    ]


@pytest.fixture
def samples_from() -> Callable[..., pd.DataFrame]:
    """Build a samples table from (condition, seed, question_id, answers[, role, eval_set])."""

    def build(*groups: tuple) -> pd.DataFrame:
        rows = [row for group in groups for row in _rows(*group)]
        table = pd.DataFrame(rows)
        assert list(table.columns[: len(SAMPLE_COLUMNS)]) == list(SAMPLE_COLUMNS)
        return table

    return build


@pytest.fixture
def seed_table_from() -> Callable[..., pd.DataFrame]:
    """Build a seed metrics table from {condition: {seed: value}} for metric 'old'."""

    def build(values: dict[str, dict[int, float]], metric: str = "old") -> pd.DataFrame:
        rows = [
            {
                "condition": condition,
                "role": "target" if condition == "target" else "control",
                "seed": seed,
                "metric": metric,
                "value": value,
            }
            for condition, by_seed in values.items()
            for seed, value in by_seed.items()
        ]
        return pd.DataFrame(rows)

    return build
