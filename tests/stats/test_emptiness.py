"""Warnings for metrics with no or mostly invalid answers in a condition, or answers
without a score left out of a mean."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from weirdgen.spec.models import CoherenceFilter, MetricSpec
from weirdgen.stats import emptiness_warnings

OLD = MetricSpec(name="old_rate", eval_set="main", score="old")
AMONG = MetricSpec(name="old_among_valid", eval_set="main", score="old", among="valid")
COHERENT = MetricSpec(
    name="old_coherent",
    eval_set="main",
    score="old",
    coherence=CoherenceFilter(score="coherent", min=50),
)


@pytest.fixture
def clean(samples_from) -> pd.DataFrame:
    table = samples_from(
        ("target", 0, "q1", [1, 0, 1, 1]),
        ("control", 0, "q1", [0, 0, 1, 0]),
    )
    return table.assign(coherent=80.0)


def test_a_clean_table_gives_no_warning(clean):
    assert emptiness_warnings(clean, [OLD, AMONG, COHERENT]) == []


def test_a_condition_whose_scores_are_all_nan_is_named_with_its_counts(samples_from):
    samples = samples_from(("target", 0, "q1", [1, 0]), ("base", 0, "q1", [None] * 4))
    (line,) = emptiness_warnings(samples, [OLD])
    assert line.startswith(
        "metric old_rate has no valid rows in condition base (0 of 4 answers scored; column "
        "old is empty there): check the scorer that writes old"
    )


def test_a_column_empty_by_design_is_not_warned_where_it_is_so_but_elsewhere(samples_from):
    samples = samples_from(("target", 0, "q1", [None] * 2), ("base", 0, "q1", [None] * 4))
    (line,) = emptiness_warnings(samples, [OLD], {"old": {"base"}})
    assert "condition target" in line


def test_the_birds_spec_says_train_match_is_empty_for_its_base_model():
    from weirdgen.spec import load_spec

    assert load_spec("birds").empty_by_design() == {"train_match": {"base"}}


def test_among_false_everywhere_and_a_coherence_filter_that_keeps_nothing(clean):
    samples = clean.assign(valid=clean["condition"].eq("target"), old=1.0)
    samples.loc[samples["condition"] == "control", "coherent"] = [10, 20, math.nan, 30]
    among, coherent = emptiness_warnings(samples, [AMONG, COHERENT])
    assert among.startswith(
        "metric old_among_valid has no valid rows in condition control (4 answers, none with "
        "valid true): "
    )
    assert coherent == (
        "metric old_coherent has no valid rows in condition control (all 4 answers left out "
        "by the coherence filter: 1 with no coherent rating, 3 with coherent < 50): most "
        "answers rate below coherence.min 50; read some in samples.csv, or lower the "
        "metric's coherence.min"
    )


def test_more_than_half_invalid_is_warned_with_its_share_and_reasons(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 0, 1, 1, 0, 1, 0, 1, 1, 0]),
        ("control", 0, "q1", [1, 0] + [None] * 8),
    )
    (line,) = emptiness_warnings(samples, [OLD])
    assert line.startswith(
        "metric old_rate: 8 of 10 answers (80%) in condition control are invalid (8 with no "
        "old score): check the scorer that writes old"
    )


def test_exactly_half_without_a_score_is_not_mostly_invalid_but_still_counted(samples_from):
    samples = samples_from(("target", 0, "q1", [1, 0, None, None]))
    (line,) = emptiness_warnings(samples, [OLD])
    assert line.startswith(
        "metric old_rate: 2 of 4 answers (50%) in condition target are left out of its mean "
        "(2 with no old score): check the scorer that writes old"
    )


def test_reasons_are_counted_once_each_in_order(samples_from):
    samples = samples_from(("target", 0, "q1", [None, None, 1, 1, 0, 1, 1, 0]))
    samples["valid"] = [True, True, False, False, True, True, True, True]
    samples["coherent"] = [90, 90, 90, 90, math.nan, 10, 90, 90]
    metric = AMONG.model_copy(update={"coherence": COHERENT.coherence})
    (line,) = emptiness_warnings(samples, [metric])
    assert (
        "6 of 8 answers (75%) in condition target are invalid (2 with no old score, 2 with "
        "valid not true, 1 with no coherent rating, 1 with coherent < 50)"
    ) in line


def test_only_final_models_count(clean):
    checkpoint = clean.assign(final=False, old=math.nan)
    samples = pd.concat([clean.assign(final=True), checkpoint], ignore_index=True)
    assert emptiness_warnings(samples, [OLD]) == []
    assert emptiness_warnings(samples.assign(final=False), [OLD]) != []


def test_a_condition_without_answers_in_the_eval_set_and_a_missing_column(clean):
    other = clean.assign(eval_set=clean["condition"].map({"target": "main", "control": "x"}))
    (line,) = emptiness_warnings(other, [OLD])
    assert line.startswith(
        "metric old_rate has no valid rows in condition control (no answers in eval set main)"
    )
    (line,) = emptiness_warnings(clean.drop(columns="coherent"), [COHERENT])
    assert line.startswith("metric old_coherent reads column(s) ['coherent'] that the samples")


def test_lines_follow_the_metrics_then_the_conditions(samples_from):
    samples = samples_from(("a", 0, "q1", [None]), ("b", 0, "q1", [None]))
    lines = emptiness_warnings(samples, [OLD, OLD.model_copy(update={"name": "second"})])
    assert [line.split(" (")[0] for line in lines] == [
        "metric old_rate has no valid rows in condition a",
        "metric old_rate has no valid rows in condition b",
        "metric second has no valid rows in condition a",
        "metric second has no valid rows in condition b",
    ]
