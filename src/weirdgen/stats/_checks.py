"""Checks on the stats tables' shape, with errors that say how to fix the call."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from weirdgen.errors import WeirdgenError


def check_one_row_per_seed(seed_table: pd.DataFrame, keys: Sequence[str]) -> None:
    """Raise unless ``seed_table`` has the key columns and one row per seed within each group."""
    keys = list(keys)
    missing = [c for c in (*keys, "seed", "value") if c not in seed_table]
    if missing:
        raise WeirdgenError(
            f"the seed table lacks column(s) {missing} (it has {list(seed_table.columns)}); "
            "pass the output of seed_metrics or question_metrics, and only existing columns "
            "in by="
        )
    duplicated = seed_table.duplicated([*keys, "seed"])
    if duplicated.any():
        example = seed_table.loc[duplicated, [*keys, "seed"]].iloc[0].to_dict()
        extra = [c for c in seed_table.columns if c not in (*keys, "seed", "value", "role")]
        raise WeirdgenError(
            f"several rows per seed in one group, e.g. {example}; the seed is the unit of "
            f"replication, so group by the remaining key column(s) with by={tuple(extra)}"
        )
