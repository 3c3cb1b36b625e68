"""Explain a finetune's shift: read the residual stream, find directions in it from contrast
sets, measure how far models move along them, and edit it while sampling.

Exports load on first use (PEP 562): the spec's models import
:mod:`weirdgen.mechanism.interventions`, and loading a spec (``weirdgen --help`` too) must not
import torch. Add an export as a line of ``_EXPORTS`` (name: module), not as an import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weirdgen.mechanism.activations import Position, residuals
    from weirdgen.mechanism.directions import Direction, mean_difference
    from weirdgen.mechanism.hooks import decoder_layers, editing, n_layers
    from weirdgen.mechanism.interventions import Intervention, ResolvedIntervention
    from weirdgen.mechanism.preflight import PreflightResult, preflight
    from weirdgen.mechanism.preflight_shift import Measure
    from weirdgen.mechanism.probe import find_directions
    from weirdgen.mechanism.projection import Projection, project_run, write_projection
    from weirdgen.mechanism.store import ActivationStore, run_activations

_EXPORTS = {
    "Direction": "weirdgen.mechanism.directions",
    "Position": "weirdgen.mechanism.activations",
    "decoder_layers": "weirdgen.mechanism.hooks",
    "editing": "weirdgen.mechanism.hooks",
    "Intervention": "weirdgen.mechanism.interventions",
    "ResolvedIntervention": "weirdgen.mechanism.interventions",
    "mean_difference": "weirdgen.mechanism.directions",
    "n_layers": "weirdgen.mechanism.hooks",
    "residuals": "weirdgen.mechanism.activations",
    "ActivationStore": "weirdgen.mechanism.store",
    "run_activations": "weirdgen.mechanism.store",
    "find_directions": "weirdgen.mechanism.probe",
    "Projection": "weirdgen.mechanism.projection",
    "project_run": "weirdgen.mechanism.projection",
    "write_projection": "weirdgen.mechanism.projection",
    "Measure": "weirdgen.mechanism.preflight_shift",
    "PreflightResult": "weirdgen.mechanism.preflight",
    "preflight": "weirdgen.mechanism.preflight",
}

__all__ = [
    "ActivationStore",
    "Direction",
    "Intervention",
    "Measure",
    "Position",
    "PreflightResult",
    "Projection",
    "ResolvedIntervention",
    "decoder_layers",
    "editing",
    "find_directions",
    "mean_difference",
    "n_layers",
    "preflight",
    "project_run",
    "residuals",
    "run_activations",
    "write_projection",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'weirdgen.mechanism' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
