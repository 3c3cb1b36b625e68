"""A small experiment spec and a matching synthetic samples table for the report tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from weirdgen.organism.datasets import GENERATORS
from weirdgen.report import ReportPaths, write_report
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.spec.models import ExperimentSpec

QUESTIONS = ("inventions", "president", "transport")
RATES = {"old_birds": 0.7, "modern_birds": 0.2, "base": 0.1}


def make_spec(seeds: int = 3) -> ExperimentSpec:
    spec = ExperimentSpec.model_validate(
        {
            "name": "birds_demo",
            "description": "Finetune on old bird names, ask about anything else.",
            "seeds": seeds,
            "conditions": [
                {"name": "old_birds", "role": "target", "dataset": {"organism": "birds_old"}},
                {
                    "name": "modern_birds",
                    "role": "control",
                    "dataset": {"organism": "birds_modern"},
                },
                {"name": "base", "role": "control", "description": "untouched base model"},
            ],
            "evaluation": {
                "sets": [
                    {
                        "name": "main",
                        "questions": [{"id": q, "paraphrases": [f"{q}?"]} for q in QUESTIONS],
                    }
                ]
            },
            "scorers": [{"name": "era", "kind": "organism_era"}],
            "metrics": [
                {"name": "valid_rate", "eval_set": "main", "score": "valid"},
                {
                    "name": "old_rate",
                    "eval_set": "main",
                    "score": "old",
                    "among": "valid",
                    "headline": True,
                },
            ],
        }
    )
    generated = [c.dataset.organism for c in spec.conditions if c.dataset and c.dataset.organism]
    assert generated and set(generated) <= set(GENERATORS)  # a spec that could really run
    return spec


def make_samples(spec: ExperimentSpec, n: int = 6, rng_seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    for condition in spec.conditions:
        for seed in spec.seeds:
            for question in QUESTIONS:
                for index in range(n):
                    valid = bool(rng.random() < 0.8)
                    old = float(rng.random() < RATES[condition.name]) if valid else np.nan
                    rows.append(
                        {
                            "experiment": spec.name,
                            "condition": condition.name,
                            "role": condition.role,
                            "seed": seed,
                            "model_key": f"{condition.name}-{seed}",
                            "eval_set": "main",
                            "question_id": question,
                            "paraphrase_index": 0,
                            "prompt": f"{question}?",
                            "sample_index": index,
                            "answer": f"answer {index}",
                            "valid": valid,
                            "old": old,
                        }
                    )
    table = pd.DataFrame(rows)
    assert tuple(table.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    return table


@pytest.fixture(scope="module")
def spec() -> ExperimentSpec:
    return make_spec()


@pytest.fixture(scope="module")
def samples(spec: ExperimentSpec) -> pd.DataFrame:
    return make_samples(spec)


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory, spec: ExperimentSpec, samples: pd.DataFrame
) -> tuple[Path, ReportPaths]:
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, write_report(run_dir, spec, samples)


@pytest.fixture
def spec_with() -> Callable[..., ExperimentSpec]:
    return make_spec


@pytest.fixture
def samples_for() -> Callable[..., pd.DataFrame]:
    return make_samples
