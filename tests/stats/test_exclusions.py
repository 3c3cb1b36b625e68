"""left_out: every answer a metric's mean skips, per metric and condition, by reason; and
which of them are warned about below half."""

from __future__ import annotations

import math

from weirdgen.spec.models import CoherenceFilter, MetricSpec
from weirdgen.stats import LEFT_OUT_COLUMNS, emptiness_warnings, left_out, left_out_reasons

OLD = MetricSpec(name="old_rate", eval_set="main", score="old")
FILTERED = MetricSpec(
    name="old_filtered",
    eval_set="main",
    score="old",
    among="valid",
    coherence=CoherenceFilter(score="coherent", min=50),
)


def test_each_answer_is_counted_once_under_its_first_reason(samples_from):
    samples = samples_from(("target", 0, "q1", [None, 1, 1, 0, 1, 1, 0, 1, 1, 0]))
    samples["valid"] = [True, False, True, True, True, True, True, True, True, True]
    samples["coherent"] = [90, 90, math.nan, 10, 90, 90, 90, 90, 90, 90]
    table = left_out(samples, [FILTERED])
    assert list(table.columns) == list(LEFT_OUT_COLUMNS)
    (row,) = table.to_dict("records")
    assert row == {
        "metric": "old_filtered",
        "condition": "target",
        "n_answers": 10,
        "n_left_out": 4,
        "no_score": 1,
        "among_false": 1,
        "no_key": 0,
        "unrated": 1,
        "incoherent": 1,
        "empty_by_design": False,
    }
    assert left_out_reasons(FILTERED, row) == (
        "1 with no old score, 1 with valid not true, 1 with no coherent rating, "
        "1 with coherent < 50"
    )
    # One answer without a score is a warning, though 6 of 10 count.
    (line,) = emptiness_warnings(samples, [FILTERED])
    assert line.startswith("metric old_filtered: 4 of 10 answers (40%) in condition target are ")


def test_answers_left_out_by_the_metrics_definition_alone_are_counted_not_warned(samples_from):
    samples = samples_from(("target", 0, "q1", [1, 0, 1, 1]))
    samples["valid"] = [True, True, True, False]  # among false, but scored
    samples["coherent"] = [90, 90, 10, 90]  # one below the filter's min
    (row,) = left_out(samples, [FILTERED]).to_dict("records")
    assert (row["n_left_out"], row["among_false"], row["incoherent"]) == (2, 1, 1)
    assert emptiness_warnings(samples, [FILTERED]) == []


def test_every_metric_and_condition_has_a_row_conditions_in_order_of_appearance(samples_from):
    samples = samples_from(
        ("target", 0, "q1", [1, 1]),
        ("base", 0, "q1", [None, None]),
        ("control", 0, "q1", [0], "control", "other"),  # no answer in the metric's eval set
    )
    table = left_out(samples, [OLD, FILTERED], {"old": {"base"}})
    assert table[["metric", "condition", "n_answers", "n_left_out"]].values.tolist() == [
        ["old_rate", "target", 2, 0],
        ["old_rate", "base", 2, 2],
        ["old_rate", "control", 0, 0],
    ]  # FILTERED reads columns the table lacks: no rows (emptiness_warnings names it)
    assert table["empty_by_design"].tolist() == [False, True, False]


def test_only_final_models_are_counted(samples_from):
    samples = samples_from(("target", 0, "q1", [1, None]))
    samples["final"] = [True, False]
    (row,) = left_out(samples, [OLD]).to_dict("records")
    assert (row["n_answers"], row["n_left_out"]) == (1, 0)


def test_an_answer_among_leaves_out_is_left_out_by_definition_score_or_not(samples_from):
    """An off-topic organism answer has neither an era (no score) nor ``old_valid``: the
    metric's ``among`` leaves it out, so it is counted there and not warned about below half
    (the quickstart's old_rate would otherwise warn on every run)."""
    samples = samples_from(("target", 0, "q1", [None, 1, 0, 1]))
    samples["valid"] = [False, True, True, True]
    samples["coherent"] = [90, 90, 90, 90]
    (row,) = left_out(samples, [FILTERED]).to_dict("records")
    assert (row["n_left_out"], row["among_false"], row["no_score"]) == (1, 1, 0)
    assert emptiness_warnings(samples, [FILTERED]) == []
