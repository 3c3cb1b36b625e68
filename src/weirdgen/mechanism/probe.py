"""Directions from two contrast sets, per layer, with the accuracy they reach on prompts held
out of their fitting.

Two methods: ``mean_difference`` (the unit vector between the sets' means; a prompt is told
apart by which side of the midpoint between the training means it projects to) and ``probe``
(an L2-regularised logistic regression, scikit-learn's, whose weight vector is the
direction). Both fit on the same seeded split: each set gives ``test_share`` of its prompts
to the held-out part, so the held-out part keeps the sets' proportions, and sets of one size
hold out the same positions (paired sets keep their pairs together). The direction saved is
the one fitted on the training part, so its held-out accuracy describes that very vector; its
``scale`` is the distance between the two sets' means along it, over all their prompts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
import torch

from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.directions import Direction, mean_difference

Method = Literal["mean_difference", "probe"]
METHODS: tuple[str, ...] = get_args(Method)
PROBE_C = 1.0
"""Inverse L2 strength of the logistic regression (scikit-learn's default)."""


class Split(NamedTuple):
    """Which prompts of each set fit the direction and which are held out."""

    positive_train: np.ndarray
    positive_test: np.ndarray
    negative_train: np.ndarray
    negative_test: np.ndarray


def split(n_positive: int, n_negative: int, test_share: float, seed: int) -> Split:
    """A seeded split of each contrast set: ``round(test_share * n)`` of its prompts held out
    (at least one, and at least one left to fit on), none when ``test_share`` is 0.

    The positions held out depend on the seed and the set's size only, so two sets of one
    size lose the same positions: paired sets (line i of each the same prompt but for the
    contrast) keep their pairs together, and the held-out accuracy is not skewed by which
    prompts each side happened to hold out.
    """
    if not 0 <= test_share < 1:
        raise WeirdgenError(
            f"test_share {test_share}: give a share of at least 0 (none held out) and below 1"
        )
    parts = []
    for label, n in (("positive", n_positive), ("negative", n_negative)):
        if n == 0:
            raise WeirdgenError(f"the {label} contrast set is empty: give it at least one prompt")
        held = 0 if test_share == 0 else min(max(1, round(test_share * n)), n - 1)
        if test_share > 0 and held < 1:
            raise WeirdgenError(
                f"the {label} contrast set has {n} prompt: holding some out for the held-out "
                "accuracy needs at least 2 per set; add prompts or hold none out (test share 0)"
            )
        order = np.random.default_rng([seed, n]).permutation(n)
        parts += [np.sort(order[held:]), np.sort(order[:held])]
    return Split(*parts)


def find_directions(
    name: str,
    positive: torch.Tensor,
    negative: torch.Tensor,
    method: Method,
    model_key: str,
    layers: Sequence[int],
    test_share: float = 0.25,
    seed: int = 0,
    info: dict[str, Any] | None = None,
) -> list[Direction]:
    """One direction per layer, pointing from the negative set towards the positive one.

    Args:
        name: what the direction stands for (``era``, ``trigger``).
        positive: activations (prompts, layers, width) of the set the direction points to.
        negative: activations of the other set, same layers and width.
        method: ``mean_difference`` or ``probe``.
        model_key: the model the activations came from.
        layers: the layer index of each position of the tensors' second axis.
        test_share: share of each set held out for the accuracy (0: none, accuracy None).
        seed: seed of the split.
        info: more to record in each direction's ``info`` (the sets' files, the position).
    """
    if method not in METHODS:
        raise WeirdgenError(f"method {method!r}: give one of {', '.join(METHODS)}")
    if positive.ndim != 3 or positive.shape[1:] != negative.shape[1:]:
        raise WeirdgenError(
            f"contrast sets of shapes {tuple(positive.shape)} and {tuple(negative.shape)}: "
            "give (prompts, layers, width) for both, with the same layers"
        )
    if positive.shape[1] != len(layers):
        raise WeirdgenError(
            f"{len(layers)} layer indices for activations of {positive.shape[1]} layers: "
            "name each layer the activations hold"
        )
    parts = split(len(positive), len(negative), test_share, seed)
    fit = _fit_mean_difference if method == "mean_difference" else _fit_probe
    pos, neg = positive.double().numpy(), negative.double().numpy()
    held = len(parts.positive_test) + len(parts.negative_test)
    out = []
    for index, layer in enumerate(layers):
        fitted = fit(pos[parts.positive_train, index], neg[parts.negative_train, index])
        unit = fitted.unit
        if not np.isfinite(unit).all() or np.linalg.norm(unit) < 0.5:
            raise WeirdgenError(
                f"direction {name!r} at layer {layer}: the contrast sets do not differ there "
                "(the fitted vector is zero); give sets that differ, or other layers"
            )
        accuracy = None
        if held:
            right = (
                fitted.positive(pos[parts.positive_test, index]).sum()
                + (~fitted.positive(neg[parts.negative_test, index])).sum()
            )
            accuracy = float(right / held)
        scale = float((pos[:, index].mean(0) - neg[:, index].mean(0)) @ unit)
        record = {
            "positive": len(positive),
            "negative": len(negative),
            "heldout_positive": len(parts.positive_test),
            "heldout_negative": len(parts.negative_test),
            "test_share": test_share,
            "seed": seed,
            **fitted.info,
            **(info or {}),
        }
        out.append(
            Direction(
                name=name,
                layer=int(layer),
                vector=torch.from_numpy(unit).float(),
                scale=scale,
                method=method,
                model=model_key,
                heldout_accuracy=accuracy,
                info=record,
            )
        )
    return out


class _Fitted:
    """A unit vector and the rule that says which side of it a prompt is on."""

    def __init__(self, unit: np.ndarray, threshold: float, info: dict[str, Any]) -> None:
        self.unit = unit
        self.threshold = threshold
        self.info = info

    def positive(self, x: np.ndarray) -> np.ndarray:
        return x @ self.unit > self.threshold


def _fit_mean_difference(pos: np.ndarray, neg: np.ndarray) -> _Fitted:
    """The unit vector between the training means, split at their midpoint."""
    units, _ = mean_difference(
        torch.from_numpy(pos)[:, None].float(), torch.from_numpy(neg)[:, None].float()
    )
    unit = units[0].double().numpy()
    threshold = float((pos.mean(0) + neg.mean(0)) / 2 @ unit)
    return _Fitted(unit, threshold, {})


def _fit_probe(pos: np.ndarray, neg: np.ndarray) -> _Fitted:
    """A logistic regression on the training prompts; its own intercept decides the side."""
    logistic_regression = _logistic_regression()
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos), dtype=int), np.zeros(len(neg), dtype=int)])
    probe = logistic_regression(C=PROBE_C, max_iter=5000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe.fit(x, y)
    weights = probe.coef_[0]
    norm = np.linalg.norm(weights)
    unit = weights / norm if norm > 0 else weights
    converged = not any("converge" in str(w.message).lower() for w in caught)
    threshold = float(-probe.intercept_[0] / norm) if norm > 0 else 0.0
    return _Fitted(unit, threshold, {"probe_C": PROBE_C, "probe_converged": converged})


def _logistic_regression() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise WeirdgenError(
            "the probe method needs scikit-learn: pip install 'weirdgen[mechanism]' (or use "
            "the mean_difference method)"
        ) from None
    return LogisticRegression
