"""Checks on the stats tables' shape, with errors that say how to fix the call."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from weirdgen.errors import WeirdgenError
from weirdgen.stats._coherence import COHERENCE_COLUMNS

RESERVED_COLUMNS: frozenset[str] = frozenset(
    {
        "condition", "role", "seed", "metric", "question_id", "value", "step", "final",
        "mean", "ci_low", "ci_high", "n_seeds", "target", "control", "diff", "n_pairs",
        "paired", "n_target", "n_control", "n_answers", "n_incoherent", "n_unrated",
        "excluded",
    }
)  # fmt: skip
"""Columns of the stats tables; a ``by`` key with one of these names would overwrite one."""


def check_key_names(metric: str, keys: Sequence[str]) -> None:
    """Raise if a ``by`` key of ``metric`` has the name of a stats table column."""
    clashing = [key for key in keys if key in RESERVED_COLUMNS]
    if clashing:
        raise WeirdgenError(
            f"metric {metric!r} is computed by {clashing[0]!r}, which is also a column of the "
            f"stats tables; rename that question metadata key (reserved names: "
            f"{sorted(RESERVED_COLUMNS)})"
        )


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
        known = (*keys, "seed", "value", "role", *COHERENCE_COLUMNS)
        extra = [c for c in seed_table.columns if c not in known]
        raise WeirdgenError(
            f"several rows per seed in one group, e.g. {example}; the seed is the unit of "
            f"replication, so group by the remaining key column(s) with by={tuple(extra)}"
        )
