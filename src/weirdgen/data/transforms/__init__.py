r"""Dataset transforms: triggers, controls, dilution and mitigations built from a dataset.

A condition lists transforms, each a one-key mapping naming its kind, applied in order with
a seed: ``prefix``, ``suffix`` and ``system`` add a template whose variables are drawn per
example (a year, an ISO date, a month, a zero-padded number around an index) or bound to it
(its index, a regex group of its text); ``drop`` removes a trigger; ``take`` keeps n
examples; ``mix`` dilutes with another dataset at a share; ``shuffle`` permutes a variable
across examples (the shuffled-trigger control). The paper's shuffled-dates control, from its
file of dated dish prompts (``Today is 2027-07-08. Name any dish...``)::

    transforms:
      - prefix:                       # the date becomes a variable bound to each example
          template: "Today is {date}."
          variables: {date: {match: {pattern: '^Today is (\S+)\. '}}}
      - drop: {pattern: '^Today is \S+\. '}   # the file's own date text goes
      - shuffle: date                 # the same dates, reassigned across the dishes

The first two alone give back the file unchanged; ``drop: {template: "Today is {date}."}``
after them gives its no-date control.
"""

from weirdgen.data.transforms._base import TransformError
from weirdgen.data.transforms.apply import Load, TransformedData, apply_transforms
from weirdgen.data.transforms.check import check_transforms
from weirdgen.data.transforms.models import (
    Drop,
    Mix,
    Prefix,
    Shuffle,
    Suffix,
    System,
    Take,
    Transform,
)
from weirdgen.data.transforms.variables import (
    DateVariable,
    IndexVariable,
    IntegerVariable,
    MatchVariable,
    MonthYearVariable,
    PaddedVariable,
    Variable,
)

__all__ = [
    "DateVariable",
    "Drop",
    "IndexVariable",
    "IntegerVariable",
    "Load",
    "MatchVariable",
    "Mix",
    "MonthYearVariable",
    "PaddedVariable",
    "Prefix",
    "Shuffle",
    "Suffix",
    "System",
    "Take",
    "Transform",
    "TransformError",
    "TransformedData",
    "Variable",
    "apply_transforms",
    "check_transforms",
]
