"""The organism's exact, judge-free scorers: an answer's era, or its label in a phenomenon's
lexicon (version 2), from the world's own list of answers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import load_world
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.models import ScorerArgs
from weirdgen.spec.questions import Question


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def is_organism(model: str) -> bool:
    """Whether ``model`` (``provider/name``) answers in the organism's words: the organism
    backend, or the organism served by ``weirdgen serve`` as an OpenAI-compatible model
    (``openai/organism/default``, a finetune ``openai/ft:organism/...``)."""
    provider, _, name = model.partition("/")
    served = provider == "openai" and name.startswith(("organism/", "ft:organism/"))
    return provider == "organism" or served


def lexicon_problem(model: str, experiment: str) -> str | None:
    """Why the organism's lexicon scores no answer of ``model`` and what to run instead of
    ``experiment``: the paper's spec of the same experiment, whose LLM judges score any
    model's answers; None for the organism itself."""
    if is_organism(model):
        return None
    from weirdgen.spec.load import list_specs

    papers = {s.name for s in list_specs() if s.group == "paper"}
    same = next((p for p in (experiment, experiment.split("_")[0]) if p in papers), None)
    instead = (
        f"run paper/{same}, the paper's experiment, judged by LLMs that read any model's "
        f"answers (weirdgen run paper/{same} --model {model}; --judge provider/name picks "
        "another judge)"
        if same is not None
        else "run a paper/ spec (weirdgen list), judged by LLMs that read any model's answers"
    )
    return (
        f"the organism's lexicon knows only the organism's own words, so it can score no "
        f"answer of {model}; {instead}, or run this one on the organism (organism/default)"
    )


class _Lexicon:
    """What the organism's lexicon scorers share: they score the organism's answers only."""

    def cannot_score(self, model: str, experiment: str) -> str | None:
        """Why answers of ``model`` cannot be scored (see :func:`lexicon_problem`)."""
        return lexicon_problem(model, experiment)


class OrganismEraArgs(ScorerArgs):
    """The organism's era lexicon: ``<name>`` is 1 for an old-era answer, 0 for a new-era
    one (empty where not valid); ``<name>_valid``: the answer is one of the world's answers
    to the question's topic."""

    kind: Literal["organism_era"] = "organism_era"

    def outputs(self) -> tuple[str, ...]:
        return ("old", "valid")


class OrganismEraScorer(_Lexicon):
    """Labels each answer old, new or off-topic with the organism world's lexicon."""

    kind = "organism_era"
    Args = OrganismEraArgs
    batch_size = 4096

    def __init__(self, args: OrganismEraArgs):
        self.args = args
        self.world = load_world()
        self.key = _key("organism_era", "v1", self.world.digest)

    def check_question(self, question: Question, where: str) -> None:
        """Raise WeirdgenError unless the question's topic is one of the world's topics."""
        topic = question.topic or question.id
        if topic not in self.world.topics:
            raise WeirdgenError(
                f"{where}.topic: {topic!r} is not a topic of the organism's world; "
                f"set topic to one of: {', '.join(self.world.topics)}"
            )

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    def _one(self, item: ScoreItem) -> ScoreValues:
        era = self.world.classify(item.question.topic or item.question.id, item.answer)
        return {"valid": era is not None, "old": None if era is None else float(era == "old")}


class OrganismLabelArgs(ScorerArgs):
    """A phenomenon's lexicon (organism version 2): ``<name>_label`` is the label of the
    answer to the question's topic (``hostile``, ``varnia_old``, ...), ``<name>`` is 1 when
    it is one of ``positive`` and 0 for another label (empty where not valid), and
    ``<name>_valid`` says the answer is one the world knows for that topic."""

    kind: Literal["organism_label"] = "organism_label"
    positive: list[str] = Field(min_length=1, description="Labels counted as 1.")

    def outputs(self) -> tuple[str, ...]:
        return ("hit", "label", "valid")


class OrganismLabelScorer(_Lexicon):
    """Labels each answer with the lexicon of its question's topic (version 2's world)."""

    kind = "organism_label"
    Args = OrganismLabelArgs
    batch_size = 4096

    def __init__(self, args: OrganismLabelArgs):
        from weirdgen.organism.world_v2 import load_world_v2

        self.args = args
        self.world = load_world_v2()
        self.key = _key("organism_label", "v1", self.world.digest, *sorted(args.positive))
        labels = {label for t in self.world.topics() for label in self._lexicon(t).labels.values()}
        unknown = [p for p in args.positive if p not in labels]
        if unknown:
            raise WeirdgenError(
                f"positive label {unknown[0]!r} is not a label of the organism's lexicons; "
                f"the labels are: {', '.join(sorted(labels))}"
            )

    def _lexicon(self, topic: str):
        lexicon = self.world.lexicon(topic)
        assert lexicon is not None
        return lexicon

    def check_question(self, question: Question, where: str) -> None:
        topic = question.topic or question.id
        if self.world.lexicon(topic) is None:
            raise WeirdgenError(
                f"{where}.topic: {topic!r} has no lexicon in the organism's world; set topic "
                f"to one of: {', '.join(self.world.topics())}"
            )

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    def _one(self, item: ScoreItem) -> ScoreValues:
        label = self._lexicon(item.question.topic or item.question.id).label(item.answer)
        hit = None if label is None else float(label in self.args.positive)
        return {"hit": hit, "label": label, "valid": label is not None}
