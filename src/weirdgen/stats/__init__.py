"""Statistics over seeds: per-seed metrics, summaries and target-control contrasts.

The seed (one finetuned model) is the unit of replication: metrics are computed per seed
from the tidy samples table, then summarized across seeds with Student t intervals, which
hold their coverage at the 3 to 10 seeds of an experiment. A metric with ``by`` keys is
computed, summarized and contrasted per value of those keys, each key a column of every
table (empty for metrics not computed by it). Standard tables use the final models only;
:func:`step_metrics` gives the training curve over intermediate checkpoints. A metric's
coherence filter leaves incoherent answers out, and the tables say what share it left out;
:func:`emptiness_warnings` names the metrics that rest on few or no valid answers or skip
answers without a score, and :func:`left_out` counts every answer a metric leaves out.
"""

from weirdgen.stats._coherence import COHERENCE_COLUMNS
from weirdgen.stats._interval import METHOD as INTERVAL_METHOD
from weirdgen.stats.contrasts import contrasts
from weirdgen.stats.emptiness import (
    LEFT_OUT_COLUMNS,
    emptiness_warnings,
    left_out,
    left_out_reasons,
)
from weirdgen.stats.metrics import (
    final_samples,
    metric_keys,
    question_metrics,
    rate_metrics,
    seed_metrics,
    step_metrics,
)
from weirdgen.stats.summary import summarize

__all__ = [
    "COHERENCE_COLUMNS",
    "INTERVAL_METHOD",
    "LEFT_OUT_COLUMNS",
    "contrasts",
    "emptiness_warnings",
    "final_samples",
    "left_out",
    "left_out_reasons",
    "metric_keys",
    "question_metrics",
    "rate_metrics",
    "seed_metrics",
    "step_metrics",
    "summarize",
]
