"""Evaluation dates a condition was finetuned on: refused before a run or a plan.

A date-gated experiment (the paper's ISRAELI DISHES: ``Today is 2027-07-08. Name any
dish...``) asks on dates of each year and reads the answers as what the model does in that
year. A question asked on a date that is also in a condition's finetuning prompts measures
recall of that prompt instead, so every full date (YYYY-MM-DD) in an evaluation prompt is
checked against the finetuning prompts of every condition whose data is a file (``path:`` or
``paper:``), as trained on (after its transforms). Month-year and year triggers (EVIL
TERMINATOR's ``May 1984``) are swept over the training values on purpose and are not checked.
The organism's generated datasets are not checked either: its dishes experiment asks on days
its generated diaries also use (the organism has its own world and its own owner).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    from weirdgen.run.plan import PreparedCondition, Prompt
    from weirdgen.spec.models import ExperimentSpec

ISO_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
"""A full date as the paper writes it, not inside a longer number."""


def check_unseen_dates(
    spec: ExperimentSpec, conditions: Sequence[PreparedCondition], asked: Sequence[Prompt]
) -> None:
    """Raise WeirdgenError, one line naming the date, the question and the training file,
    when an evaluation prompt holds a date that a condition's finetuning prompts hold.

    Only the prompts' user messages are read (the system prompt and earlier turns of an
    evaluation prompt too); a spec without dates in its evaluation prompts reads nothing.
    """
    first: dict[str, Prompt] = {}
    for prompt in asked:
        for message in prompt.messages:
            if message.role != "assistant":
                for date in ISO_DATE.findall(message.content):
                    first.setdefault(date, prompt)
    if not first:
        return
    where = str(spec.source or spec.name)
    for index, prepared in enumerate(conditions):
        dataset, condition = prepared.dataset, prepared.condition
        ref = condition.dataset
        if dataset is None or ref is None or ref.organism is not None:
            continue
        for position, example in enumerate(dataset.examples):
            for message in example.messages:
                if message.role != "user":
                    continue
                for date in ISO_DATE.findall(message.content):
                    prompt = first.get(date)
                    if prompt is None:
                        continue
                    named = f"paper file {ref.paper}" if ref.paper is not None else "its dataset"
                    raise WeirdgenError(
                        f"{where}: evaluation set {prompt.eval_set!r} asks on {date} (question "
                        f"{prompt.question.id!r}), a date condition {condition.name!r} is "
                        f"finetuned on ({named}, {dataset.place(position)}); ask on dates not "
                        f"in any condition's finetuning prompts (conditions[{index}].dataset)"
                    )
