"""How far a judge's labels are from the truth: agreement, Cohen's kappa, the confusion
matrix, per-class precision and recall, and what the judge does to the organism's metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_LABEL = "no label"
"""The judge column of answers the judge named no label for (never dropped)."""


@dataclass(frozen=True)
class ClassScores:
    """One label's precision (of the judge's uses of it) and recall (of its true items)."""

    label: str
    support: int
    judged: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class Agreement:
    """A judge's labels against the truth.

    ``matrix[i, j]`` counts answers whose truth is ``labels[i]`` and whose judge label is
    ``columns[j]`` (the labels, then :data:`NO_LABEL`). Agreement and kappa are over every
    answer: one the judge gave no label counts as a disagreement.
    """

    labels: tuple[str, ...]
    matrix: np.ndarray
    agreement: float
    kappa: float | None
    classes: tuple[ClassScores, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.labels, NO_LABEL)

    @property
    def n(self) -> int:
        return int(self.matrix.sum())

    @property
    def no_label(self) -> int:
        """Answers the judge gave no valid label for."""
        return int(self.matrix[:, -1].sum())


def confusion_matrix(
    truth: Sequence[str], judged: Sequence[str | None], labels: Sequence[str]
) -> np.ndarray:
    """Counts of (true label, judge label) with a last column for no label (None)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels) + 1), dtype=int)
    for true, label in zip(truth, judged, strict=True):
        matrix[index[true], len(labels) if label is None else index[label]] += 1
    return matrix


def cohen_kappa(matrix: np.ndarray) -> float | None:
    """Cohen's kappa of a confusion matrix (rows: one rater, columns: the other), padded to
    square with zero rows (a judge column no true item has, such as no label).

    kappa = (p_o - p_e) / (1 - p_e), p_o the share on the diagonal, p_e the share expected by
    chance from the two raters' marginals. None where p_e is 1 (both raters used one label).
    """
    size = max(matrix.shape)
    square = np.zeros((size, size), dtype=float)
    square[: matrix.shape[0], : matrix.shape[1]] = matrix
    total = square.sum()
    if total == 0:
        return None
    observed = np.trace(square) / total
    expected = float(square.sum(axis=1) @ square.sum(axis=0)) / total**2
    if expected >= 1:
        return None
    return float((observed - expected) / (1 - expected))


def agreement(
    truth: Sequence[str], judged: Sequence[str | None], labels: Sequence[str]
) -> Agreement:
    """Agreement, kappa, the confusion matrix and per-class scores of ``judged`` (None where
    the judge named no label) against ``truth``."""
    matrix = confusion_matrix(truth, judged, labels)
    total = int(matrix.sum())
    diagonal = np.diag(matrix[:, : len(labels)])
    classes = []
    for i, label in enumerate(labels):
        support, used = int(matrix[i].sum()), int(matrix[:, i].sum())
        classes.append(
            ClassScores(
                label,
                support,
                used,
                float(diagonal[i] / used) if used else None,
                float(diagonal[i] / support) if support else None,
            )
        )
    return Agreement(
        tuple(labels),
        matrix,
        float(diagonal.sum() / total) if total else 0.0,
        cohen_kappa(matrix),
        tuple(classes),
    )


@dataclass(frozen=True)
class MetricEffect:
    """The organism's metrics computed from the truth and from the judge's labels.

    ``old_rate``: OLD among answers labelled OLD or NEW (the organism's old-among-valid);
    ``valid_rate``: answers labelled OLD or NEW among all (an answer the judge named no
    label for is not valid, as in a run).
    """

    true_old_rate: float | None
    judge_old_rate: float | None
    true_valid_rate: float
    judge_valid_rate: float


def metric_effect(truth: Sequence[str], judged: Sequence[str | None]) -> MetricEffect:
    """old_rate and valid_rate from the truth beside the same from the judge's labels."""

    def rates(labels: Sequence[str | None]) -> tuple[float | None, float]:
        old = sum(label == "OLD" for label in labels)
        valid = old + sum(label == "NEW" for label in labels)
        return (old / valid if valid else None), (valid / len(labels) if labels else 0.0)

    true_old, true_valid = rates(truth)
    judge_old, judge_valid = rates(judged)
    return MetricEffect(true_old, judge_old, true_valid, judge_valid)
