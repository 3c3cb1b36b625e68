from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MetricSpec
from weirdgen.stats import question_metrics, rate_metrics, summarize

SPREAD = [0.1, 0.5, 0.3, 0.9, 0.2]


def row(table: pd.DataFrame, condition: str = "target") -> pd.Series:
    (index,) = table.index[table["condition"] == condition]
    return table.loc[index]


def test_columns_mean_and_interval(seed_table_from):
    summary = summarize(seed_table_from({"target": dict(enumerate(SPREAD))}))
    assert list(summary.columns) == [
        "condition",
        "role",
        "metric",
        "mean",
        "ci_low",
        "ci_high",
        "n_seeds",
    ]
    result = row(summary)
    assert result["mean"] == pytest.approx(np.mean(SPREAD))
    assert result["n_seeds"] == 5
    assert result["ci_low"] < result["mean"] < result["ci_high"]


def test_interval_is_mean_plus_minus_t_times_standard_error(seed_table_from):
    result = row(summarize(seed_table_from({"target": {0: 1.0, 1: 2.0, 2: 3.0}})))
    # mean 2, s = 1, n = 3: 2 ± t_{0.975, 2} / sqrt(3) = 2 ± 4.302653 / 1.732051
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((-0.484138, 4.484138), abs=1e-6)
    ninety = row(summarize(seed_table_from({"target": {0: 1.0, 1: 2.0, 2: 3.0}}), 0.9))
    assert (ninety["ci_low"], ninety["ci_high"]) == pytest.approx((0.314146, 3.685854), abs=1e-6)


def test_interval_narrows_with_more_seeds(seed_table_from):
    few = summarize(seed_table_from({"target": dict(enumerate(SPREAD))}))
    many = summarize(seed_table_from({"target": dict(enumerate(SPREAD * 8))}))
    width_few = row(few)["ci_high"] - row(few)["ci_low"]
    width_many = row(many)["ci_high"] - row(many)["ci_low"]
    assert row(many)["mean"] == pytest.approx(row(few)["mean"])
    assert width_many < 0.6 * width_few


def test_deterministic_and_independent_of_row_order(seed_table_from):
    table = seed_table_from({"target": dict(enumerate(SPREAD))})
    pd.testing.assert_frame_equal(summarize(table), summarize(table))
    shuffled = summarize(table.sample(frac=1, random_state=2))
    assert row(shuffled)["ci_low"] == pytest.approx(row(summarize(table))["ci_low"])


def test_interval_does_not_depend_on_other_conditions(seed_table_from):
    alone = summarize(seed_table_from({"target": dict(enumerate(SPREAD))}))
    together = summarize(
        seed_table_from({"control": {0: 0.4, 1: 0.2}, "target": dict(enumerate(SPREAD))})
    )
    pd.testing.assert_series_equal(row(alone), row(together), check_names=False)


def test_confidence_level_widens_the_interval(seed_table_from):
    table = seed_table_from({"target": dict(enumerate(SPREAD))})
    narrow, wide = row(summarize(table, confidence=0.5)), row(summarize(table, confidence=0.99))
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]


@pytest.mark.filterwarnings("error")
def test_one_seed_gives_the_mean_and_no_interval(seed_table_from):
    result = row(summarize(seed_table_from({"target": {0: 0.4}})))
    assert result["mean"] == pytest.approx(0.4)
    assert math.isnan(result["ci_low"]) and math.isnan(result["ci_high"])
    assert result["n_seeds"] == 1


@pytest.mark.filterwarnings("error")
def test_identical_values_give_a_point_interval(seed_table_from):
    result = row(summarize(seed_table_from({"target": {0: 0.1, 1: 0.1, 2: 0.1}})))
    assert (result["mean"], result["ci_low"], result["ci_high"]) == pytest.approx((0.1,) * 3)


@pytest.mark.filterwarnings("error")
def test_nan_seeds_are_dropped_and_all_nan_is_nan(seed_table_from):
    table = seed_table_from(
        {"target": {0: 0.2, 1: np.nan, 2: 0.6}, "control": {0: np.nan, 1: np.nan}}
    )
    summary = summarize(table)
    assert row(summary)["mean"] == pytest.approx(0.4)
    assert row(summary)["n_seeds"] == 2
    empty = row(summary, "control")
    assert empty["n_seeds"] == 0
    assert all(math.isnan(empty[c]) for c in ("mean", "ci_low", "ci_high"))


def test_per_question_summary_groups_by_question(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 1]),
        ("target", 1, "q1", [1, 0]),
        ("target", 0, "q2", [0, 0]),
        ("target", 1, "q2", [0, 1]),
    )
    metric = MetricSpec(name="old", eval_set="main", score="old")
    per_question = question_metrics(samples, [metric])
    summary = summarize(per_question, by=("question_id",))
    assert list(summary.columns[:4]) == ["condition", "role", "metric", "question_id"]
    means = dict(zip(summary["question_id"], summary["mean"], strict=True))
    assert means == pytest.approx({"q1": 0.75, "q2": 0.25})
    assert set(summary["n_seeds"]) == {2}


def test_question_table_without_by_is_an_error(samples_from):
    samples = samples_from(("target", 0, "q1", [1]), ("target", 0, "q2", [0]))
    per_question = question_metrics(samples, [MetricSpec(name="old", eval_set="main", score="old")])
    with pytest.raises(WeirdgenError, match="question_id"):
        summarize(per_question)


def test_rate_intervals_are_clipped_to_zero_and_one(seed_table_from):
    table = seed_table_from({"target": {0: 0.0, 1: 0.05, 2: 0.3}})
    open_ended = row(summarize(table))
    assert open_ended["ci_low"] < 0 and open_ended["ci_high"] < 1
    clipped = row(summarize(table, rates={"old"}))
    assert clipped["ci_low"] == 0.0 and clipped["ci_high"] == open_ended["ci_high"]
    assert clipped["mean"] == open_ended["mean"]


def test_rate_metrics_are_those_whose_scores_lie_in_zero_one(samples_from):
    samples = samples_from(("target", 0, "q1", [1, 0, None]))
    samples["judge"] = [80.0, 20.0, 50.0]
    metrics = [
        MetricSpec(name="old", eval_set="main", score="old"),
        MetricSpec(name="valid", eval_set="main", score="valid"),
        MetricSpec(name="aligned", eval_set="main", score="judge"),
    ]
    assert rate_metrics(samples, metrics) == ["old", "valid"]
