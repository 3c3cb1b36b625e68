"""The solver of weirdgen's tasks: one seeded generation per sample, as a run draws it.

A run seeds every sample with ``key_seed(sample_key(model, prompt, temperature, max_tokens,
seed, index))``; this solver computes the same seed and passes it as the request's ``seed``,
with the spec's temperature and max_tokens. The organism provider draws each row from its
own seed, so an Inspect evaluation of the organism gives a run's answers exactly; other
providers get a stable seed to use as they do.
"""

from __future__ import annotations

from typing import NamedTuple

import anyio
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from weirdgen.backends.protocol import key_seed
from weirdgen.errors import WeirdgenError
from weirdgen.inspect.experiment import Experiment, registered
from weirdgen.run.plan import sample_key

INFO = "weirdgen"
"""The key of weirdgen's own fields in every sample's metadata."""


class Answering(NamedTuple):
    """Who answers a task's samples: the model's key, and the condition and seed its
    answers count for."""

    model_key: str
    condition: str | None
    seed: int
    organism: bool
    """The organism provider (its answers carry no finish reason, as in a run)."""


async def answering(experiment: Experiment, condition: str | None, seed: int | None) -> Answering:
    """The model of the running sample, with the condition and seed from the organism's
    model args or the task's args (they must agree where both are given)."""
    from weirdgen.inspect.provider import OrganismAPI

    model = get_model()
    api = model.api
    if isinstance(api, OrganismAPI):
        identity = await anyio.to_thread.run_sync(api.bind, experiment.spec)
        for what, mine, theirs in (
            ("condition", condition, identity.condition),
            ("seed", seed, identity.seed),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                raise WeirdgenError(
                    f"-T {what}={mine} but the model is -M {what}={theirs}; give it once"
                )
        chosen = condition if condition is not None else identity.condition
        if chosen is None and identity.model_key == api.backend.base().key:
            chosen = experiment.base_condition()  # the base organism is the base condition
        experiment.asked_as_written(chosen, f"-M condition={chosen}")
        return Answering(identity.model_key, chosen, _first(seed, identity.seed), True)
    return Answering(str(model), condition, _first(seed, None), False)


def _first(*seeds: int | None) -> int:
    return next((s for s in seeds if s is not None), 0)


@solver
def seeded_generate(
    experiment: str, condition: str | None = None, seed: int | None = None
) -> Solver:
    """Generate each sample's answer with the seed, temperature and max_tokens a weirdgen
    run would use, and record who answered in the sample's metadata.

    Args:
        experiment: the token of the experiment the task registered.
        condition: the spec condition the answers count for (the organism's ``-M
            condition`` says it already).
        seed: the seed they count for (likewise ``-M seed``; default 0).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        known = registered(experiment)
        who = await answering(known, condition, seed)
        info = state.metadata[INFO]
        key = sample_key(
            who.model_key,
            info["prompt"],
            info["temperature"],
            info["max_tokens"],
            who.seed,
            info["sample_index"],
        )
        state = await generate(
            state,
            temperature=info["temperature"],
            max_tokens=info["max_tokens"],
            seed=key_seed(key),
        )
        reason = state.output.stop_reason
        info.update(
            condition=who.condition,
            seed=who.seed,
            model_key=who.model_key,
            sample_key=key,
            finish_reason=None if who.organism else _finish_reason(reason),
        )
        return state

    return solve


def _finish_reason(stop: str) -> str | None:
    """Inspect's stop reason in the words of a run's ``finish_reason`` column."""
    return {"stop": "stop", "max_tokens": "length", "model_length": "length"}.get(stop)
