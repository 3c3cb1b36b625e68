"""Statistics over seeds: per-seed metrics, bootstrap summaries and target-control contrasts.

The seed (one finetuned model) is the unit of replication: metrics are computed per seed
from the tidy samples table, then summarized across seeds with percentile bootstrap CIs.
"""

from weirdgen.stats.contrasts import contrasts
from weirdgen.stats.metrics import question_metrics, seed_metrics
from weirdgen.stats.summary import summarize

__all__ = ["contrasts", "question_metrics", "seed_metrics", "summarize"]
