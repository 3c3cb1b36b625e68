"""Projection on known directions: how far the dataset in context moves the base model's
residual stream along a direction, where the answer to each evaluation question starts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from weirdgen.backends import Backend, ModelRef
from weirdgen.backends.protocol import Chat
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.activations import residuals
from weirdgen.mechanism.directions import Direction
from weirdgen.mechanism.preflight_shift import CONFIDENCE, Measure
from weirdgen.run.plan import Prompt
from weirdgen.stats._interval import mean_interval


def projection_measure(
    backend: Backend,
    model: ModelRef,
    direction: Direction,
    asked: Sequence[Prompt],
    contexts: Sequence[Chat],
    k: int,
) -> Measure:
    """The mean projection on ``direction`` of the residual stream at its layer, at each
    question's last prompt token, with K examples in context minus without; per question
    (its paraphrases averaged), then a t interval over questions.

    Raises:
        WeirdgenError: the direction's width is not the model's.
    """
    alone = residuals(backend, model, [p.messages for p in asked], [direction.layer])[:, 0]
    shown = residuals(backend, model, list(contexts), [direction.layer])[:, 0]
    if alone.shape[-1] != direction.vector.shape[-1]:
        raise WeirdgenError(
            f"direction {direction.name!r} (layer {direction.layer}) is {direction.vector.numel()} "
            f"wide and the residual stream of {model.base} is {alone.shape[-1]}; use a "
            "direction found on this model"
        )
    unit = direction.vector.float()
    table = pd.DataFrame(
        {
            "question_id": [p.question.id for p in asked],
            "alone": (alone @ unit).numpy().astype(float),
            "shown": (shown @ unit).numpy().astype(float),
        }
    )
    per_question = table.groupby("question_id", sort=False).mean()
    diffs = (per_question["shown"] - per_question["alone"]).to_numpy()
    interval = mean_interval(diffs, CONFIDENCE)
    scale = (
        f"{interval.estimate / direction.scale:+.2f} of its contrast distance"
        if (direction.scale > 0)
        else "its contrast distance is 0"
    )
    other = "" if direction.model == model.key else f"; found on model {direction.model}"
    return Measure(
        name=f"projection:{direction.name}",
        value=float(interval.estimate),
        low=float(interval.low),
        high=float(interval.high),
        over=f"{len(diffs)} questions (95% t interval)",
        evidence=(
            f"layer {direction.layer}, {direction.method}: projection "
            f"{float(np.mean(per_question['shown'])):.3g} with {k} examples vs "
            f"{float(np.mean(per_question['alone'])):.3g} without ({scale}{other})"
        ),
        details={
            "layer": direction.layer,
            "method": direction.method,
            "scale": direction.scale,
            "direction_model": direction.model,
            "questions": [
                {"question_id": q, "alone": float(r.alone), "shown": float(r.shown)}
                for q, r in per_question.iterrows()
            ],
        },
    )
