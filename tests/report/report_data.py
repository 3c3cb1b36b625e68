"""Synthetic specs and tidy samples for the report tests (imported by name, not from conftest)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd

from weirdgen.data.generators import generator_names
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
            "scorers": [{"name": "old", "kind": "organism_era"}],
            "metrics": [
                {"name": "valid_rate", "eval_set": "main", "score": "old_valid"},
                {
                    "name": "old_rate",
                    "eval_set": "main",
                    "score": "old",
                    "among": "old_valid",
                    "headline": True,
                },
            ],
        }
    )
    generated = [c.dataset.organism for c in spec.conditions if c.dataset and c.dataset.organism]
    assert generated and set(generated) <= set(generator_names())  # a spec that could really run
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
                            "old_valid": valid,
                            "old": old,
                        }
                    )
    table = pd.DataFrame(rows)
    assert tuple(table.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    return table


YEARS = (1850, 1875, 1900, 1925, 1950)


TRIGGERS = ("on", "off")


STEPS = (25, 50, 75, 100)


"""Checkpoint steps of a finetune; the last one is the final model."""


def make_sweep_spec(seeds: int = 3, with_plain_metrics: bool = True) -> ExperimentSpec:
    """The birds spec plus a 'years' set generated over year x trigger, and by-metrics."""
    data = make_spec(seeds).model_dump(mode="json", exclude_none=True)
    data["evaluation"]["sets"].append(
        {
            "name": "years",
            "vary": {"year": {"from": 1850, "to": 1950, "step": 25}, "trigger": list(TRIGGERS)},
            "questions": [{"id": "news_{year}_{trigger}", "paraphrases": ["In {year}?"]}],
        }
    )
    keyed = [
        {"name": "old_by_year", "eval_set": "years", "score": "old", "by": ["year"]},
        {"name": "old_by_trigger", "eval_set": "years", "score": "old", "by": ["trigger"]},
    ]
    data["metrics"] = [*data["metrics"], *keyed] if with_plain_metrics else keyed
    return ExperimentSpec.model_validate(data)


def _old_rate(condition: str, year: int | None, step: int) -> float:
    """Target: old answers fall with the year and rise with training; controls stay low."""
    if condition != "old_birds":
        return 0.1
    by_year = 0.9 if year is None else 0.9 - 0.6 * (year - 1850) / 100
    return by_year * step / STEPS[-1]


def make_sweep_samples(spec: ExperimentSpec, n: int = 8, checkpoints: bool = True) -> pd.DataFrame:
    """Rows for both sets with the run's metadata, step and final columns."""
    rng = np.random.default_rng(1)
    questions = [(q, None, None, "main") for q in QUESTIONS] + [
        (f"news_{y}_{t}", y, t, "years") for y in YEARS for t in TRIGGERS
    ]
    rows = []
    for condition in spec.conditions:
        finetuned = condition.dataset is not None
        steps = (STEPS if checkpoints else STEPS[-1:]) if finetuned else (0,)
        for seed, step, (question, year, trigger, eval_set) in itertools.product(
            spec.seeds, steps, questions
        ):
            rate = _old_rate(condition.name, year, step if finetuned else STEPS[-1])
            for index in range(n):
                rows.append(
                    {
                        "experiment": spec.name,
                        "condition": condition.name,
                        "role": condition.role,
                        "seed": seed,
                        "model_key": f"{condition.name}-{seed}-{step}",
                        "eval_set": eval_set,
                        "question_id": question,
                        "paraphrase_index": 0,
                        "prompt": f"{question}?",
                        "sample_index": index,
                        "answer": f"answer {index}",
                        "year": year,
                        "trigger": trigger,
                        "messages": json.dumps([{"role": "user", "content": f"{question}?"}]),
                        "step": step,
                        "final": step == steps[-1],
                        "old_valid": True,
                        "old": float(rng.random() < rate),
                    }
                )
    table = pd.DataFrame(rows)
    assert tuple(table.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    return table
