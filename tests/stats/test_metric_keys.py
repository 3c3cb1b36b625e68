"""Metrics with ``by`` keys, the final-model filter and training-step metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MetricSpec
from weirdgen.stats import (
    contrasts,
    metric_keys,
    question_metrics,
    seed_metrics,
    step_metrics,
    summarize,
)

OLD = MetricSpec(name="old", eval_set="main", score="old")
BY_YEAR = MetricSpec(name="old_by_year", eval_set="main", score="old", by=["year"])
BY_TRIGGER = MetricSpec(name="old_by_trigger", eval_set="main", score="old", by=["trigger"])
YEARS = {"q1850a": 1850, "q1850b": 1850, "q1900": 1900}
TRIGGERS = {"q1850a": "on", "q1850b": "off", "q1900": "on"}


def with_metadata(samples: pd.DataFrame) -> pd.DataFrame:
    """Metadata columns as the run writes them, after the fixed columns and before scores."""
    at = samples.columns.get_loc("answer") + 1
    samples.insert(at, "year", samples["question_id"].map(YEARS))
    samples.insert(at + 1, "trigger", samples["question_id"].map(TRIGGERS))
    return samples


def pick(table: pd.DataFrame, **keys: object) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in keys.items():
        mask &= (table[column].isna() if wanted is None else table[column] == wanted).to_numpy()
    return table.loc[mask]


@pytest.fixture
def samples(samples_from) -> pd.DataFrame:
    return with_metadata(
        samples_from(
            ("target", 0, "q1850a", [1, 1, 1, 1]),
            ("target", 0, "q1850b", [0, 0]),
            ("target", 0, "q1900", [0, 1, 0, 0]),
            ("target", 1, "q1850a", [1, 1]),
            ("target", 1, "q1850b", [1, 0]),
            ("target", 1, "q1900", [0, 0]),
            ("control", 0, "q1850a", [0, 0]),
            ("control", 0, "q1850b", [0, 1]),
            ("control", 0, "q1900", [0, 0]),
            ("control", 1, "q1850a", [0, 0]),
            ("control", 1, "q1850b", [0, 0]),
            ("control", 1, "q1900", [1, 0]),
        )
    )


def test_metric_is_computed_per_value_question_means_first(samples):
    table = seed_metrics(samples, [OLD, BY_YEAR])
    assert list(table.columns) == ["condition", "role", "seed", "metric", "year", "value"]
    by_year = pick(table, condition="target", seed=0, metric="old_by_year")
    assert dict(zip(by_year["year"], by_year["value"], strict=True)) == pytest.approx(
        {1850: 0.5, 1900: 0.25}  # mean of q1850a (1.0) and q1850b (0.0), not of 6 samples
    )
    plain = pick(table, condition="target", seed=0, metric="old")
    assert len(plain) == 1 and plain["year"].isna().all()
    assert plain["value"].iloc[0] == pytest.approx((1 + 0 + 0.25) / 3)


def test_key_columns_are_the_union_in_order_and_question_table_has_them(samples):
    assert metric_keys([OLD, BY_YEAR, BY_TRIGGER, BY_YEAR]) == ["year", "trigger"]
    table = question_metrics(samples, [BY_TRIGGER, BY_YEAR])
    assert list(table.columns) == [
        "condition", "role", "seed", "metric", "trigger", "year", "question_id", "value",
    ]  # fmt: skip
    assert pick(table, metric="old_by_trigger")["year"].isna().all()
    assert pick(table, metric="old_by_year")["trigger"].isna().all()
    assert set(pick(table, metric="old_by_trigger")["trigger"]) == {"on", "off"}


def test_two_keys_give_one_row_per_combination(samples):
    both = MetricSpec(name="both", eval_set="main", score="old", by=["year", "trigger"])
    table = pick(seed_metrics(samples, [both]), condition="target", seed=0)
    cells = {
        (y, t): v for y, t, v in zip(table["year"], table["trigger"], table["value"], strict=True)
    }
    assert cells == pytest.approx({(1850, "on"): 1.0, (1850, "off"): 0.0, (1900, "on"): 0.25})


def test_rows_without_a_value_for_the_key_do_not_count(samples):
    samples.loc[samples["question_id"] == "q1900", "year"] = np.nan
    table = seed_metrics(samples, [BY_YEAR])
    assert set(table["year"]) == {1850}


def test_summary_and_contrasts_per_value(samples):
    per_seed = seed_metrics(samples, [OLD, BY_YEAR])
    summary = summarize(per_seed, by=["year"])
    assert list(summary.columns[:4]) == ["condition", "role", "metric", "year"]
    target = pick(summary, condition="target", metric="old_by_year")
    # seed 0: 1850 -> 0.5, 1900 -> 0.25; seed 1: 1850 -> 0.75, 1900 -> 0.0
    assert dict(zip(target["year"], target["mean"], strict=True)) == pytest.approx(
        {1850: 0.625, 1900: 0.125}
    )
    assert len(pick(summary, metric="old", year=None)) == 2  # one row per condition
    differences = contrasts(per_seed, "target", ["control"], by=["year"])
    row = pick(differences, metric="old_by_year", year=1850)
    # control: seed 0 1850 -> mean(0, 0.5) = 0.25, seed 1 -> 0; paired diffs 0.25, 0.75
    assert row["diff"].iloc[0] == pytest.approx(0.5)
    assert row["n_pairs"].iloc[0] == 2
    assert len(pick(differences, metric="old", year=None)) == 1


def test_without_by_the_key_columns_raise_a_helpful_error(samples):
    per_seed = seed_metrics(samples, [BY_YEAR])
    with pytest.raises(WeirdgenError, match="year"):
        summarize(per_seed)


def test_a_key_named_like_a_stats_column_is_an_error(samples):
    samples = samples.rename(columns={"year": "mean"})
    clashing = BY_YEAR.model_copy(update={"by": ["mean"]})
    with pytest.raises(WeirdgenError, match="'mean'.*rename"):
        seed_metrics(samples, [clashing])


def with_checkpoints(samples: pd.DataFrame) -> pd.DataFrame:
    """The table as given is the final model (step 100); add a step-50 checkpoint of all 0."""
    final = samples.assign(step=100, final=True)
    early = samples.assign(step=50, final=False, old=0.0)
    return pd.concat([early, final], ignore_index=True)


def test_intermediate_checkpoints_do_not_count_in_standard_metrics(samples):
    expected = seed_metrics(samples, [OLD, BY_YEAR])
    table = with_checkpoints(samples)
    pd.testing.assert_frame_equal(seed_metrics(table, [OLD, BY_YEAR]), expected)
    assert len(question_metrics(table, [OLD])) == len(question_metrics(samples, [OLD]))


def test_step_metrics_give_one_value_per_seed_and_step(samples):
    table = step_metrics(with_checkpoints(samples), [OLD])
    assert list(table.columns) == ["condition", "role", "seed", "metric", "step", "value"]
    assert len(table) == 2 * 2 * 2
    assert (pick(table, step=50)["value"] == 0).all()
    final = pick(table, step=100).drop(columns="step").reset_index(drop=True)
    pd.testing.assert_frame_equal(final, seed_metrics(samples, [OLD]))
    curve = summarize(table, by=["step"])
    assert set(curve["step"]) == {50, 100}
    assert not math.isnan(pick(curve, condition="target", step=100)["ci_low"].iloc[0])


def test_step_metrics_without_a_step_column_is_an_error(samples):
    with pytest.raises(WeirdgenError, match="step"):
        step_metrics(samples, [OLD])


def test_where_keeps_only_the_questions_with_those_values(samples):
    on = MetricSpec(name="on", eval_set="main", score="old", where={"trigger": "on"})
    assert on.where == {"trigger": ["on"]}
    table = pick(seed_metrics(samples, [on]), condition="target", seed=0)
    assert table["value"].iloc[0] == pytest.approx((1.0 + 0.25) / 2)  # q1850a and q1900
    late = MetricSpec(name="late", eval_set="main", score="old", where={"year": [1900.0]})
    assert pick(seed_metrics(samples, [late]), condition="target", seed=0)["value"].iloc[
        0
    ] == pytest.approx(0.25)  # 1900.0 finds the year 1900
    none = MetricSpec(name="none", eval_set="main", score="old", where={"trigger": "never"})
    with pytest.raises(WeirdgenError, match="where .*sample those questions or fix where"):
        seed_metrics(samples, [none])
