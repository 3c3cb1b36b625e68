"""weirdgen's experiments as Inspect tasks: ``inspect eval weirdgen/birds --model ...``.

Every built-in spec is a task named ``weirdgen/<group>/<name>`` (``weirdgen/paper/birds``),
and an organism experiment also by its bare name (``weirdgen/birds``), as ``weirdgen run``
names them; ``weirdgen/experiment -T spec=PATH`` takes a spec file. Each task has one Inspect
sample per (question, paraphrase, sample index) of the spec's evaluation, its solver draws
each answer with the seed a run would use (:mod:`weirdgen.inspect.solver`), and its scorer
is the spec's scorers (:mod:`weirdgen.inspect.scorers`).

Task args: ``n`` (samples per paraphrase, as ``weirdgen run --n``), ``condition`` and ``seed``
(what the answers count for when imported: the organism's ``-M condition``/``-M seed`` say it
already; any other model is the condition you name).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

from weirdgen.inspect.experiment import Experiment, register, sample_id, spec_document
from weirdgen.inspect.scorers import experiment_metrics, experiment_scorer
from weirdgen.inspect.solver import INFO, seeded_generate
from weirdgen.run.plan import Prompt, with_overrides
from weirdgen.spec import load_spec
from weirdgen.spec.load import DEFAULT_GROUP, list_specs
from weirdgen.spec.models import ExperimentSpec

_MESSAGES = {"system": ChatMessageSystem, "user": ChatMessageUser}


def experiment_task(
    spec: str | ExperimentSpec,
    n: int | None = None,
    condition: str | None = None,
    seed: int | None = None,
) -> Task:
    """A spec's evaluation as an Inspect task.

    Args:
        spec: a built-in experiment name, a spec YAML path, or a loaded spec.
        n: samples per paraphrase, overriding the spec's (as ``weirdgen run --n``).
        condition: the spec condition the answers count for.
        seed: the seed they count for (default: the organism's ``-M seed``, else 0).
    """
    loaded = spec if isinstance(spec, ExperimentSpec) else load_spec(spec)
    loaded = with_overrides(loaded, n=n)
    known = register(loaded)
    if condition is not None:
        known.condition(condition, f"-T condition={condition}")
        known.asked_as_written(condition, f"-T condition={condition}")
    if seed is not None and (isinstance(seed, bool) or not 0 <= seed <= 2**31 - 1):
        raise ValueError(f"-T seed={seed!r}: give a whole number from 0 to 2147483647")
    samples = [_sample(known, p, i) for p in known.prompts.values() for i in range(p.n)]
    return Task(
        dataset=MemoryDataset(samples, name=loaded.name),
        solver=seeded_generate(known.token, condition, seed),
        scorer=experiment_scorer(known.token),
        metrics=[experiment_metrics(known.token)],
        metadata={INFO: _task_info(known, n)},
    )


def _sample(known: Experiment, prompt: Prompt, index: int) -> Sample:
    question = prompt.question
    chat = [_MESSAGES.get(m.role, ChatMessageAssistant)(content=m.content) for m in prompt.messages]
    return Sample(
        id=sample_id(prompt, index),
        input=chat,
        metadata={
            **question.metadata,
            INFO: {
                "experiment": known.spec.name,
                "eval_set": prompt.eval_set,
                "question_id": question.id,
                "paraphrase_index": prompt.paraphrase_index,
                "sample_index": index,
                "prompt": prompt.text,
                "temperature": prompt.temperature,
                "max_tokens": prompt.max_tokens,
            },
        },
    )


def _task_info(known: Experiment, n: int | None) -> dict:
    """What ``weirdgen import`` rebuilds the run from: the spec as evaluated."""
    source = known.spec.source
    return {
        "spec": spec_document(known.spec),
        "source": str(source.absolute()) if source else None,
        "token": known.token,
        "n": n,
        "weirdgen_version": metadata.version("weirdgen"),
    }


@task(name="experiment")
def experiment(
    spec: str, n: int | None = None, condition: str | None = None, seed: int | None = None
) -> Task:
    """Any weirdgen spec (a built-in name or a spec YAML path) as an Inspect task."""
    return experiment_task(spec, n=n, condition=condition, seed=seed)


def _named_task(name: str, description: str) -> Callable[..., Task]:
    def factory(
        n: int | None = None, condition: str | None = None, seed: int | None = None
    ) -> Task:
        return experiment_task(name, n=n, condition=condition, seed=seed)

    factory.__name__ = name.replace("/", "_")
    factory.__doc__ = description
    return factory


def register_builtin_tasks() -> list[str]:
    """Register every built-in spec as a task, by its ``group/name`` and, where ``weirdgen
    run`` takes it, its bare name (``birds`` is organism/birds); the names registered
    (Inspect puts ``weirdgen/`` before them)."""
    specs = list_specs()
    names = []
    for info in specs:
        aliases = [info.qualified_name]
        same = [s for s in specs if info.name in (s.name, s.qualified_name)]
        if len(same) > 1:  # a bare name means the organism's experiment, as find_spec says
            same = [s for s in same if s.group == DEFAULT_GROUP] or same
        if info.name != info.qualified_name and same == [info]:
            aliases.append(info.name)
        for alias in aliases:
            task(name=alias)(_named_task(info.qualified_name, info.description))
            names.append(alias)
    return names
