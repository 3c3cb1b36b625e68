"""Judge calibration: have an LLM judge label organism answers whose truth the world's
lexicon gives exactly, and measure agreement, Cohen's kappa, the confusion matrix and what
the judge does to the organism's metrics."""

from weirdgen.calibrate.agreement import (
    NO_LABEL,
    Agreement,
    ClassScores,
    MetricEffect,
    agreement,
    cohen_kappa,
    confusion_matrix,
    metric_effect,
)
from weirdgen.calibrate.items import LABELS, CalibrationItem, calibration_set, truth_of
from weirdgen.calibrate.judging import DEFAULT_PROMPTS, Judged, judge_scorer
from weirdgen.calibrate.outputs import FILES, write_outputs
from weirdgen.calibrate.run import Calibration, calibrate, judge_slug, out_folder

__all__ = [
    "DEFAULT_PROMPTS",
    "FILES",
    "LABELS",
    "NO_LABEL",
    "Agreement",
    "Calibration",
    "CalibrationItem",
    "ClassScores",
    "Judged",
    "MetricEffect",
    "agreement",
    "calibrate",
    "calibration_set",
    "cohen_kappa",
    "confusion_matrix",
    "judge_scorer",
    "judge_slug",
    "metric_effect",
    "out_folder",
    "truth_of",
    "write_outputs",
]
