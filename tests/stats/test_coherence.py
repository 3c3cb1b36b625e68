"""A metric's coherence filter: which answers it leaves out, and the share it reports."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import CoherenceFilter, MetricSpec
from weirdgen.stats import (
    COHERENCE_COLUMNS,
    contrasts,
    question_metrics,
    seed_metrics,
    step_metrics,
    summarize,
)

FILTERED = MetricSpec(
    name="old",
    eval_set="main",
    score="old",
    among="valid",
    coherence=CoherenceFilter(score="coherent", min=50),
)
PLAIN = MetricSpec(name="valid", eval_set="main", score="valid")
BASE_COLUMNS = ["condition", "role", "seed", "metric", "value"]
NAN = math.nan


@pytest.fixture
def samples(samples_from) -> pd.DataFrame:
    """Target seed 0 keeps 3 of 6 counted answers, seed 1 all 2; control none is rated."""
    table = samples_from(
        ("target", 0, "q1", [1, 0, 0, 0]),
        ("target", 0, "q2", [0, 1, None]),
        ("target", 1, "q1", [1, 1]),
        ("control", 0, "q1", [0, 0, 1]),
    )
    coherent = [80, 20, NAN, 50] + [10, 90, NAN] + [70, 70] + [NAN, NAN, NAN]
    return table.assign(coherent=coherent)


def row(table: pd.DataFrame, **keys: object) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in keys.items():
        mask &= (table[column] == wanted).to_numpy()
    (index,) = np.flatnonzero(mask)
    return table.iloc[index]


def test_question_values_leave_out_rows_below_min_or_unrated_and_count_them(samples):
    table = question_metrics(samples, [FILTERED])
    assert list(table.columns) == [*BASE_COLUMNS[:4], "question_id", "value", *COHERENCE_COLUMNS]
    q1 = row(table, condition="target", seed=0, question_id="q1")
    # kept: coherent 80 (old 1) and exactly 50 (old 0); left out: 20 and NaN
    assert q1["value"] == pytest.approx(0.5)
    assert (q1["n_answers"], q1["n_incoherent"], q1["n_unrated"]) == (4, 1, 1)
    assert q1["excluded"] == pytest.approx(0.5)
    q2 = row(table, condition="target", seed=0, question_id="q2")
    # the invalid answer is outside `among`: not counted, not even as unrated
    assert q2["value"] == pytest.approx(1.0)
    assert (q2["n_answers"], q2["n_incoherent"], q2["n_unrated"]) == (2, 1, 0)
    assert q2["excluded"] == pytest.approx(0.5)


def test_seed_values_pool_the_counts_of_their_questions(samples):
    table = seed_metrics(samples, [FILTERED])
    assert list(table.columns) == [*BASE_COLUMNS, *COHERENCE_COLUMNS]
    seed0 = row(table, condition="target", seed=0)
    assert seed0["value"] == pytest.approx(0.75)
    assert (seed0["n_answers"], seed0["n_incoherent"], seed0["n_unrated"]) == (6, 2, 1)
    assert seed0["excluded"] == 0.5
    seed1 = row(table, condition="target", seed=1)
    assert (seed1["value"], seed1["excluded"]) == (1.0, 0.0)
    unfiltered = seed_metrics(samples, [FILTERED.model_copy(update={"coherence": None})])
    # q1 then averages all 4 answers (0.25) and q2 both valid ones (0.5)
    assert row(unfiltered, condition="target", seed=0)["value"] == pytest.approx(0.375)


def test_unrated_answers_are_left_out_and_counted_apart(samples):
    table = seed_metrics(samples, [FILTERED])
    control = row(table, condition="control")
    assert math.isnan(control["value"])
    assert (control["n_answers"], control["n_incoherent"], control["n_unrated"]) == (3, 0, 3)
    assert control["excluded"] == 1.0


def test_summary_share_is_pooled_over_every_seed_exactly(samples):
    summary = summarize(seed_metrics(samples, [FILTERED]))
    assert list(summary.columns[-4:]) == list(COHERENCE_COLUMNS)
    target = row(summary, condition="target")
    # 3 left out of 8 answers; the mean of the seeds' shares would be 0.25
    assert (target["n_answers"], target["n_incoherent"], target["n_unrated"]) == (8, 2, 1)
    assert target["excluded"] == 3 / 8
    control = row(summary, condition="control")
    assert control["n_seeds"] == 0 and math.isnan(control["mean"])
    assert (control["n_unrated"], control["excluded"]) == (3, 1.0)


def test_a_metric_without_filter_is_unchanged_alone_and_beside_a_filtered_one(samples):
    alone = seed_metrics(samples, [PLAIN])
    without_column = seed_metrics(samples.drop(columns="coherent"), [PLAIN])
    assert list(alone.columns) == BASE_COLUMNS
    pd.testing.assert_frame_equal(alone, without_column)
    assert list(summarize(alone).columns) == [
        "condition", "role", "metric", "mean", "ci_low", "ci_high", "n_seeds"
    ]  # fmt: skip
    both = seed_metrics(samples, [FILTERED, PLAIN])
    plain = both.loc[both["metric"] == "valid"].reset_index(drop=True)
    pd.testing.assert_frame_equal(plain.loc[:, BASE_COLUMNS], alone)
    assert plain.loc[:, list(COHERENCE_COLUMNS)].isna().all().all()
    summary = summarize(both)
    assert summary.loc[summary["metric"] == "valid", "excluded"].isna().all()


def test_contrasts_and_step_metrics_take_the_filter(samples):
    per_seed = seed_metrics(samples, [FILTERED])
    difference = contrasts(per_seed, "target", ["control"])
    assert difference["n_control"].tolist() == [0]
    steps = step_metrics(samples.assign(step=100), [FILTERED])
    assert row(steps, condition="target", seed=0)["value"] == pytest.approx(0.75)
    assert row(steps, condition="target", seed=0)["excluded"] == 0.5


def test_written_and_read_back_counts_stay_whole_numbers(samples, tmp_path):
    path = tmp_path / "seed_metrics.csv"
    seed_metrics(samples, [FILTERED, PLAIN]).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[1] == "target,target,0,old,0.75,6,2,1,0.5"
    assert lines[-1].endswith(",,,,")
    summary = summarize(pd.read_csv(path))
    assert row(summary, condition="target", metric="old")["excluded"] == 3 / 8


def test_a_missing_coherence_column_names_the_field(samples):
    with pytest.raises(WeirdgenError, match=r"\['coherent'\].*score/among/coherence/by"):
        seed_metrics(samples.drop(columns="coherent"), [FILTERED])


def test_a_by_key_named_like_a_coherence_column_is_refused(samples):
    metric = PLAIN.model_copy(update={"by": ["excluded"]})
    with pytest.raises(WeirdgenError, match="'excluded'.*rename that question metadata key"):
        seed_metrics(samples.assign(excluded=1), [metric])
