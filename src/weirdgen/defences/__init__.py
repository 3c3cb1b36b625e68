"""Defences against weird generalization, as declared parts of a spec.

Each defence in a spec's ``defences:`` becomes a condition ``<condition>.<defence>`` (role
``defended``) that the run trains, samples and scores like any other; the report sets each
one's broad shift (the headline) against the narrow task it keeps (the ``narrow: true``
metric) and, for an inoculation, the shift when its prompt returns at test time (the leak).
"""

from weirdgen.defences.expand import expand_defences
from weirdgen.defences.models import (
    AtTest,
    Context,
    Defence,
    DefenceTag,
    Dilution,
    Distill,
    EarlyStopping,
    Filtering,
    Inoculation,
    Realignment,
)

__all__ = [
    "Context",
    "Defence",
    "DefenceTag",
    "Dilution",
    "Distill",
    "EarlyStopping",
    "Filtering",
    "Inoculation",
    "Realignment",
    "AtTest",
    "expand_defences",
]
