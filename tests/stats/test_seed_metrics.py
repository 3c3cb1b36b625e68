from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MetricSpec
from weirdgen.stats import question_metrics, seed_metrics

OLD = MetricSpec(name="old", eval_set="main", score="old", among="valid", headline=True)
VALID = MetricSpec(name="valid", eval_set="main", score="valid")


def value(table: pd.DataFrame, **keys: object) -> float:
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in keys.items():
        mask &= table[column] == wanted
    (result,) = table.loc[mask, "value"].tolist()
    return result


def test_columns_and_known_means(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 0, 1, 1]),
        ("target", 0, "q2", [0, 0]),
        ("control", 0, "q1", [0, 0, 0, 1]),
        ("control", 0, "q2", [1, 1]),
    )
    table = seed_metrics(samples, [OLD, VALID])
    assert list(table.columns) == ["condition", "role", "seed", "metric", "value"]
    assert value(table, condition="target", metric="old") == pytest.approx(0.375)
    assert value(table, condition="control", metric="old") == pytest.approx(0.625)
    assert value(table, condition="target", metric="valid") == pytest.approx(1.0)
    assert set(table["role"]) == {"target", "control"}


def test_questions_weigh_equally_not_samples(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 1, 1, 1]),
        ("target", 0, "q2", [0]),
    )
    table = seed_metrics(samples, [OLD])
    pooled = samples["old"].mean()
    assert pooled == pytest.approx(0.8)
    assert value(table, metric="old") == pytest.approx(0.5)


def test_among_keeps_only_rows_where_the_column_is_true(samples_from):
    samples = samples_from(("target", 0, "q1", [1, 0, 1, 1]))
    samples["valid"] = [True, True, False, False]
    among = seed_metrics(samples, [OLD])
    everything = seed_metrics(samples, [OLD.model_copy(update={"among": None})])
    assert value(among, metric="old") == pytest.approx(0.5)
    assert value(everything, metric="old") == pytest.approx(0.75)


def test_invalid_answers_do_not_count_and_valid_rate_does(samples_from):
    samples = samples_from(("target", 0, "q1", [1, None, None, 0]))
    table = seed_metrics(samples, [OLD, VALID])
    assert value(table, metric="old") == pytest.approx(0.5)
    assert value(table, metric="valid") == pytest.approx(0.5)


def test_other_eval_sets_are_ignored(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 1]),
        ("target", 0, "q9", [0, 0, 0], "target", "held_out"),
    )
    assert value(seed_metrics(samples, [OLD]), metric="old") == pytest.approx(1.0)


@pytest.mark.filterwarnings("error")
def test_all_nan_question_is_skipped_and_all_nan_seed_is_nan(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 0]),
        ("target", 0, "q2", [None, None]),
        ("target", 1, "q1", [None]),
        ("target", 1, "q2", [None, None]),
    )
    per_question = question_metrics(samples, [OLD])
    assert math.isnan(value(per_question, seed=0, question_id="q2"))
    table = seed_metrics(samples, [OLD])
    assert value(table, seed=0) == pytest.approx(0.5)
    assert math.isnan(value(table, seed=1))
    assert len(table) == 2


def test_question_metrics_has_one_row_per_seed_and_question(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 0, 1, 1]),
        ("target", 0, "q2", [0, 1]),
        ("target", 1, "q1", [1]),
        ("target", 1, "q2", [0]),
    )
    table = question_metrics(samples, [OLD, VALID])
    assert list(table.columns) == [
        "condition",
        "role",
        "seed",
        "metric",
        "question_id",
        "value",
    ]
    assert len(table) == 2 * 2 * 2
    assert value(table, seed=0, question_id="q1", metric="old") == pytest.approx(0.75)
    assert value(table, seed=0, question_id="q2", metric="old") == pytest.approx(0.5)


def test_missing_score_column_names_the_metric(samples_from):
    samples = samples_from(("target", 0, "q1", [1]))
    broken = MetricSpec(name="match", eval_set="main", score="train_match")
    with pytest.raises(WeirdgenError, match="match.*train_match"):
        seed_metrics(samples, [broken])


def test_metric_on_an_unsampled_eval_set_is_an_error(samples_from):
    samples = samples_from(("target", 0, "q1", [1]))
    with pytest.raises(WeirdgenError, match="held_out"):
        seed_metrics(samples, [OLD.model_copy(update={"eval_set": "held_out"})])
