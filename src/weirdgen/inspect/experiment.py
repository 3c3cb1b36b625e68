"""One spec as the Inspect side sees it: its prompts by sample, its conditions' training
answers and its scorers, registered under a short token.

Inspect logs the arguments of every solver and scorer, so they name the experiment by its
token (``birds-1a2b3c4d5e6f``) rather than carrying the whole spec; the task that registered
it runs in the same process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import Prompt, build_scorers, load_condition, prompts
from weirdgen.score import Scorer
from weirdgen.spec import resolve_spec_path
from weirdgen.spec.load import validate_spec
from weirdgen.spec.models import Condition, ExperimentSpec

PromptKey = tuple[str, str, int]
"""(evaluation set, question id, paraphrase index): one prompt of a spec."""


def sample_id(prompt: Prompt, index: int) -> str:
    """The Inspect sample id of one (question, paraphrase, sample index)."""
    return f"{prompt.eval_set}/{prompt.question.id}/{prompt.paraphrase_index}/{index}"


@dataclass
class Experiment:
    """A spec with what its Inspect task, solver, scorer and import look up."""

    spec: ExperimentSpec
    token: str
    _train: dict[str, frozenset[str] | None] = field(default_factory=dict, repr=False)

    @cached_property
    def prompts(self) -> dict[PromptKey, Prompt]:
        """Every prompt of the spec, by (evaluation set, question id, paraphrase index)."""
        found: dict[PromptKey, Prompt] = {}
        for p in prompts(self.spec):
            key = (p.eval_set, p.question.id, p.paraphrase_index)
            if key in found:
                raise WeirdgenError(
                    f"{self.where}: evaluation set {p.eval_set!r} asks question "
                    f"{p.question.id!r} twice; give each question its own id"
                )
            found[key] = p
        return found

    @cached_property
    def scorers(self) -> list[Scorer]:
        """The spec's scorers, built as a run builds them (judges' backends made)."""
        return build_scorers(self.spec)

    @property
    def where(self) -> str:
        return str(self.spec.source or self.spec.name)

    def condition(self, name: str, where: str) -> Condition:
        """The spec's condition ``name``; one line naming the others if there is none."""
        for condition in self.spec.conditions:
            if condition.name == name:
                return condition
        names = ", ".join(c.name for c in self.spec.conditions)
        raise WeirdgenError(
            f"{where}: experiment {self.spec.name} has no condition {name!r}; its conditions: "
            f"{names}"
        )

    def asked_as_written(self, name: str | None, where: str) -> None:
        """Refuse a condition whose prompts a defence changes at test time (a context, an
        inoculation's leak): the task's samples are the spec's prompts as written."""
        if name is None:
            return
        condition = self.condition(name, where)
        if condition.test_time is not None:
            raise WeirdgenError(
                f"{where}: condition {name!r} is asked with test-time changes (a defence's "
                "system prompt or prefix), which an Inspect task's samples do not carry; "
                "run it with weirdgen run, or evaluate the condition it defends"
            )

    def base_condition(self) -> str | None:
        """The one condition without finetuning (the base model), if there is exactly one."""
        bases = [c.name for c in self.spec.conditions if c.dataset is None]
        return bases[0] if len(bases) == 1 else None

    def train_answers(self, condition: str | None) -> frozenset[str] | None:
        """The normalized answers of a condition's finetuning data (None without one), as the
        run gives its scorers (``train_match`` reads them)."""
        if condition is None:
            return None
        if condition not in self._train:
            chosen = self.condition(condition, self.where)
            self._train[condition] = load_condition(self.spec, chosen).train_answers
        return self._train[condition]


_REGISTERED: dict[str, Experiment] = {}


def register(spec: ExperimentSpec) -> Experiment:
    """The spec registered under its token (its name and a hash of its content)."""
    digest = hashlib.sha256(json.dumps(spec_document(spec), sort_keys=True).encode()).hexdigest()
    token = f"{spec.name.replace('/', '-')}-{digest[:12]}"
    if token not in _REGISTERED:
        _REGISTERED[token] = Experiment(spec, token)
    return _REGISTERED[token]


def registered(token: str) -> Experiment:
    """The experiment a task registered under ``token`` in this process."""
    found = _REGISTERED.get(token)
    if found is None:
        raise WeirdgenError(
            f"no weirdgen experiment {token!r} in this process; weirdgen's solvers and scorers "
            "run inside a weirdgen task (inspect eval weirdgen/NAME)"
        )
    return found


def spec_document(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as JSON data, dataset paths made absolute (as a run's spec.yaml is)."""
    doc = spec.model_dump(mode="json")
    for condition in doc["conditions"]:
        dataset = condition.get("dataset") or {}
        if dataset.get("path"):
            dataset["path"] = str(resolve_spec_path(spec, dataset["path"]).absolute())
    return doc


def spec_from_document(doc: dict[str, Any], source: str | None, where: str) -> ExperimentSpec:
    """The spec :func:`spec_document` wrote (with the file it came from, where that still
    exists, so judge prompt files resolve as they did)."""
    spec = validate_spec(doc, lambda loc: f"{where}: the spec it carries")
    if source and Path(source).is_file():
        spec.source = Path(source)
    return spec
