"""Explain a finetune's shift: read the residual stream, find directions in it from contrast
sets, measure how far models move along them, and edit it while sampling."""

from weirdgen.mechanism.activations import Position, residuals
from weirdgen.mechanism.directions import Direction, mean_difference
from weirdgen.mechanism.hooks import decoder_layers, editing, n_layers

__all__ = [
    "Direction",
    "Position",
    "decoder_layers",
    "editing",
    "mean_difference",
    "n_layers",
    "residuals",
]
