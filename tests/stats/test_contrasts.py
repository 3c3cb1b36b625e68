from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.stats import contrasts

TARGET = {0: 0.6, 1: 0.9, 2: 0.4, 3: 0.8, 4: 0.7}
CONTROL = {0: 0.2, 1: 0.6, 2: 0.3, 3: 0.3, 4: 0.5}


def only(table: pd.DataFrame, control: str = "control") -> pd.Series:
    (index,) = table.index[table["control"] == control]
    return table.loc[index]


def test_columns_and_paired_difference_is_mean_of_seed_differences(seed_table_from):
    table = seed_table_from({"target": TARGET, "control": CONTROL})
    result = contrasts(table.sample(frac=1, random_state=1), "target", ["control"])
    assert list(result.columns) == [
        "metric",
        "target",
        "control",
        "diff",
        "ci_low",
        "ci_high",
        "n_pairs",
        "paired",
        "n_target",
        "n_control",
    ]
    row = only(result)
    expected = np.mean([TARGET[s] - CONTROL[s] for s in TARGET])
    assert row["paired"] and row["n_pairs"] == 5
    assert row["diff"] == pytest.approx(expected)
    assert row["ci_low"] < row["diff"] < row["ci_high"]


def test_only_seeds_in_both_arms_are_paired(seed_table_from):
    table = seed_table_from(
        {"target": {0: 0.5, 1: 0.9, 2: 0.4}, "control": {1: 0.5, 2: 0.2, 3: 0.9}}
    )
    row = only(contrasts(table, "target", ["control"]))
    assert row["n_pairs"] == 2
    assert (row["n_target"], row["n_control"]) == (3, 3)
    assert row["diff"] == pytest.approx(((0.9 - 0.5) + (0.4 - 0.2)) / 2)


def test_pairing_removes_shared_seed_variation(seed_table_from):
    base = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.8, 4: 0.2, 5: 0.6}
    shifted = {seed: value + 0.1 + 0.01 * (seed % 2) for seed, value in base.items()}
    paired = only(
        contrasts(seed_table_from({"target": shifted, "control": base}), "target", ["control"])
    )
    unpaired_control = {seed + 100: value for seed, value in base.items()}
    unpaired = only(
        contrasts(
            seed_table_from({"target": shifted, "control": unpaired_control}), "target", ["control"]
        )
    )
    assert paired["diff"] == pytest.approx(unpaired["diff"])
    assert paired["ci_high"] - paired["ci_low"] < 0.1 * (unpaired["ci_high"] - unpaired["ci_low"])


def test_without_shared_seeds_falls_back_to_unpaired(seed_table_from):
    control = {seed + 10: value for seed, value in CONTROL.items()}
    row = only(
        contrasts(seed_table_from({"target": TARGET, "control": control}), "target", ["control"])
    )
    assert not row["paired"] and row["n_pairs"] == 0
    assert (row["n_target"], row["n_control"]) == (5, 5)
    assert row["diff"] == pytest.approx(
        np.mean(list(TARGET.values())) - np.mean(list(CONTROL.values()))
    )
    assert row["ci_low"] < row["diff"] < row["ci_high"]


def test_one_row_per_metric_and_control_and_deterministic(seed_table_from):
    values = {"target": TARGET, "base": CONTROL, "control": {s: v / 2 for s, v in TARGET.items()}}
    table = pd.concat([seed_table_from(values, "old"), seed_table_from(values, "valid")])
    result = contrasts(table, "target", ["base", "control"])
    assert list(zip(result["metric"], result["control"], strict=True)) == [
        ("old", "base"),
        ("old", "control"),
        ("valid", "base"),
        ("valid", "control"),
    ]
    pd.testing.assert_frame_equal(result, contrasts(table, "target", ["base", "control"]))


def test_paired_interval_is_the_t_interval_of_seed_differences(seed_table_from):
    table = seed_table_from(
        {"target": {0: 1.5, 1: 2.0, 2: 4.0}, "control": {0: 0.5, 1: 0.0, 2: 1.0}}
    )
    row = only(contrasts(table, "target", ["control"]))
    # differences 1, 2, 3: mean 2, s = 1, so 2 ± t_{0.975, 2} / sqrt(3)
    assert (row["diff"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (2.0, -0.484138, 4.484138), abs=1e-6
    )


def test_unpaired_interval_is_welch(seed_table_from):
    target, control = {0: 1.0, 1: 2.0, 2: 3.0}, {10: 0.0, 11: 0.0, 12: 0.3, 13: 0.1}
    row = only(
        contrasts(seed_table_from({"target": target, "control": control}), "target", ["control"])
    )
    # Welch: se = sqrt(1/3 + 0.02/4) = 0.581664, df = 2.06 (Welch-Satterthwaite)
    assert row["diff"] == pytest.approx(1.9)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.534, 4.334), abs=1e-3)


@pytest.mark.filterwarnings("error")
def test_degenerate_contrasts_give_no_warnings(seed_table_from):
    one_pair = only(
        contrasts(seed_table_from({"target": {0: 0.5}, "control": {0: 0.2}}), "target", ["control"])
    )
    assert one_pair["diff"] == pytest.approx(0.3) and one_pair["n_pairs"] == 1
    assert math.isnan(one_pair["ci_low"]) and math.isnan(one_pair["ci_high"])

    constant = only(
        contrasts(
            seed_table_from({"target": {0: 0.5, 1: 0.7}, "control": {0: 0.2, 1: 0.4}}),
            "target",
            ["control"],
        )
    )
    assert (constant["diff"], constant["ci_low"], constant["ci_high"]) == pytest.approx((0.3,) * 3)

    with_nan = only(
        contrasts(
            seed_table_from(
                {"target": {0: 0.5, 1: np.nan, 2: 0.9}, "control": {0: 0.1, 1: 0.2, 2: 0.4}}
            ),
            "target",
            ["control"],
        )
    )
    assert with_nan["n_pairs"] == 2 and with_nan["diff"] == pytest.approx(0.45)

    empty = only(
        contrasts(
            seed_table_from({"target": {0: np.nan}, "control": {1: 0.2, 2: 0.3}}),
            "target",
            ["control"],
        )
    )
    assert not empty["paired"] and math.isnan(empty["diff"])


def test_unknown_condition_is_an_error(seed_table_from):
    table = seed_table_from({"target": TARGET, "control": CONTROL})
    with pytest.raises(WeirdgenError, match="placebo"):
        contrasts(table, "target", ["placebo"])


def test_rate_differences_are_clipped_to_minus_one_and_one(seed_table_from):
    table = seed_table_from(
        {"target": {0: 0.9, 1: 1.0, 2: 0.5}, "control": {0: 0.0, 1: 0.0, 2: 0.1}}
    )
    open_ended = only(contrasts(table, "target", ["control"]))
    assert open_ended["ci_high"] > 1
    clipped = only(contrasts(table, "target", ["control"], rates={"old"}))
    assert clipped["ci_high"] == 1.0 and clipped["ci_low"] == open_ended["ci_low"]
