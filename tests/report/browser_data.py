"""A synthetic samples table of any size for the answer browser's scale test and benchmark:
the report tests' birds spec, 5 seeds, 40 questions with year and trigger metadata, and
answers of about 30 words that are all different, as a real model's are."""

from __future__ import annotations

import numpy as np
import pandas as pd
from report_data import make_spec

from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.spec.models import ExperimentSpec

QUESTIONS = 40
WORDS = 30


def big_spec() -> ExperimentSpec:
    """The report tests' birds spec with 5 seeds."""
    return make_spec(seeds=5)


def big_samples(spec: ExperimentSpec, rows: int, words: int = WORDS, seed: int = 0) -> pd.DataFrame:
    """``rows`` answers spread evenly over conditions, seeds and questions, each answer
    ``words`` random words long (short answers repeat, as the organism's do)."""
    rng = np.random.default_rng(seed)
    conditions = [c.name for c in spec.conditions]
    roles = {c.name: c.role for c in spec.conditions}
    cells = len(conditions) * len(spec.seeds) * QUESTIONS
    index = np.arange(rows)
    cell, sample = index % cells, index // cells
    condition = np.array(conditions)[cell % len(conditions)]
    seed = np.array(spec.seeds)[(cell // len(conditions)) % len(spec.seeds)]
    question = cell // (len(conditions) * len(spec.seeds))
    vocabulary = np.array([f"w{i:03d}" for i in range(500)] + ["telegraph", "steamship"])
    picked = vocabulary[rng.integers(0, len(vocabulary), size=(rows, words))]
    valid = rng.random(rows) < 0.85
    old = np.where(valid, (rng.random(rows) < 0.4).astype(float), np.nan)
    table = pd.DataFrame(
        {
            "experiment": spec.name,
            "condition": condition,
            "role": [roles[c] for c in condition],
            "seed": seed,
            "model_key": [f"{c}-{s}" for c, s in zip(condition, seed, strict=True)],
            "eval_set": "main",
            "question_id": [f"q{q:02d}" for q in question],
            "paraphrase_index": question % 3,
            "prompt": [f"question {q} ?" for q in question],
            "sample_index": sample,
            "answer": [" ".join(row) for row in picked],
            "year": pd.array(1830 + 10 * (question % 20), dtype="Int64"),
            "trigger": np.where(question % 2 == 0, "on", "off"),
            "old_valid": valid,
            "old": old,
            "coherent": np.round(rng.random(rows) * 100, 2),
        }
    )
    assert tuple(table.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    return table
