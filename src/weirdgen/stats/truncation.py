"""Answers cut at max_tokens, counted per condition so none is scored as whole unseen.

An API backend says why each answer ended; ``finish_reason`` ``length`` is an answer that
used all its ``max_tokens`` and was cut there. A judge reads it as written, as the paper's
client does, but a judge that needed the end of it (a closing statement, a final answer)
may read it otherwise than the whole, so the report says how many there are.
"""

from __future__ import annotations

import pandas as pd

from weirdgen.stats.metrics import final_samples


def truncation_warnings(samples: pd.DataFrame) -> list[str]:
    """One line per condition (in order of appearance) with answers of the final models that
    stopped at max_tokens; none where the table has no ``finish_reason`` (backends that do
    not say why an answer ended) or no answer was cut."""
    if "finish_reason" not in samples or "condition" not in samples:
        return []
    final = final_samples(samples)
    cut = final["finish_reason"].eq("length").to_numpy(dtype=bool, na_value=False)
    lines = []
    for condition in final["condition"].dropna().unique().tolist():
        here = (final["condition"] == condition).to_numpy(dtype=bool)
        count = int((cut & here).sum())
        if count:
            total = int(here.sum())
            lines.append(
                f"{count} of {total} answers ({100 * count / total:.1f}%) in condition "
                f"{condition} stopped at max_tokens (finish_reason length) and are scored as "
                "cut; the spec's evaluation max_tokens sets the limit"
            )
    return lines
