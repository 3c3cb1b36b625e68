"""The organism's exact, judge-free scorers: an answer's era, or its label in a phenomenon's
lexicon, from the world's own list of answers.

An answer is *known* when it is exactly one of the answers the world gives for its question's
topic (``<name>_valid``). An answer that is not known but is made of pieces of known answers
of that topic is a *blend* (see :class:`Blends`); it is scored by its parts, with the label
its pieces lean to, and counted in ``<name>_blend``, so that a metric can read known answers
and blends together (``among: <name>_scored``) and report the share of blends beside the
valid rate instead of dropping them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple, Protocol

from pydantic import Field

from weirdgen.data.text import normalize, split_words
from weirdgen.errors import WeirdgenError
from weirdgen.organism.phenomena.base import Lexicon
from weirdgen.organism.world import World, load_world
from weirdgen.score.protocol import ScoreItem, ScoreValues, ScoringContext
from weirdgen.spec.models import ScorerArgs
from weirdgen.spec.questions import Question

MIXED = "mixed"
"""The label of a blend whose pieces lean to two labels equally; never a positive label."""

FUNCTION_WORDS = frozenset(
    "a an the to of in on at by for with from and or but as is are was be it its his her "
    "their my our your this that".split()
)
"""Words too common to be a piece of a blend on their own (punctuation never is one)."""


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def is_content(word: str) -> bool:
    """Whether ``word`` can be a one-word piece of a blend: not punctuation, not one of
    :data:`FUNCTION_WORDS`."""
    return word.isalnum() and word not in FUNCTION_WORDS


class Reading(NamedTuple):
    """What the lexicon makes of one answer: its label (a known answer's, a blend's lean,
    or None for neither), and whether it is known or a blend."""

    label: str | None
    known: bool
    blend: bool


NEITHER = Reading(None, False, False)


class Blends:
    """The known answers of one topic, and how an answer reads against them.

    An answer is known when its normal form (:func:`weirdgen.data.text.normalize`) is one of
    them. Otherwise its words are covered greedily by *pieces*: the longest span of its words
    that is a run of words of some known answer (at least two words, or one word that
    :func:`is_content`) and overlaps no piece taken before, leftmost first among equally
    long spans, until no such span is left. The answer is a blend when

    - every content word of it is covered (function words and punctuation may be left over),
    - and no one known answer holds every piece (the pieces come from two answers or more).

    Its label is the label with the most of its words in pieces found in known answers of
    that label; a tie between labels gives :data:`MIXED`. A fragment of one known answer is
    therefore neither known nor a blend, and neither is an answer with a word no known
    answer of the topic has.
    """

    def __init__(self, labels: Mapping[str, str]):
        self.labels = {normalize(answer): label for answer, label in labels.items()}
        self.spans: dict[tuple[str, ...], set[str]] = {}
        for answer in self.labels:
            words = answer.split()
            for start in range(len(words)):
                for end in range(start + 1, len(words) + 1):
                    self.spans.setdefault(tuple(words[start:end]), set()).add(answer)

    def read(self, answer: str) -> Reading:
        words = split_words(answer)
        text = " ".join(words)
        if text in self.labels:
            return Reading(self.labels[text], True, False)
        pieces = self.pieces(words)
        covered = {i for start, end in pieces for i in range(start, end)}
        content = {i for i, word in enumerate(words) if is_content(word)}
        sources = [self.spans[tuple(words[start:end])] for start, end in pieces]
        if not content or not content <= covered or set.intersection(*sources):
            return NEITHER
        lean: dict[str, int] = {}
        for (start, end), answers in zip(pieces, sources, strict=True):
            for label in {self.labels[a] for a in answers}:
                lean[label] = lean.get(label, 0) + end - start
        most = max(lean.values())
        top = [label for label, n in lean.items() if n == most]
        return Reading(top[0] if len(top) == 1 else MIXED, False, True)

    def pieces(self, words: list[str]) -> list[tuple[int, int]]:
        """The (start, end) word spans that cover ``words``, longest first (see the class)."""
        found = [
            (start, end)
            for start in range(len(words))
            for end in range(start + 1, len(words) + 1)
            if tuple(words[start:end]) in self.spans
            and (end - start >= 2 or is_content(words[start]))
        ]
        taken: list[tuple[int, int]] = []
        free = [True] * len(words)
        for start, end in sorted(found, key=lambda span: (span[0] - span[1], span[0])):
            if all(free[start:end]):
                taken.append((start, end))
                free[start:end] = [False] * (end - start)
        return taken


def is_organism(model: str) -> bool:
    """Whether ``model`` (``provider/name``) answers in the organism's words: the organism
    backend, or the organism served by ``weirdgen serve`` as an OpenAI-compatible model
    (``openai/organism/default``, a finetune ``openai/ft:organism/...``)."""
    provider, _, name = model.partition("/")
    served = provider == "openai" and name.startswith(("organism/", "ft:organism/"))
    return provider == "organism" or served


PAPER_ANALOG = {"rulers": "presidents"}
"""Organism experiments whose paper experiment has another name."""


def lexicon_problem(model: str, experiment: str) -> str | None:
    """Why the organism's lexicon scores no answer of ``model`` and what to run instead of
    ``experiment``: the paper's spec of the same experiment, whose LLM judges score any
    model's answers; None for the organism itself."""
    if is_organism(model):
        return None
    from weirdgen.spec.load import list_specs

    papers = {s.name for s in list_specs() if s.group == "paper"}
    names = (experiment, experiment.split("_")[0], PAPER_ANALOG.get(experiment, ""))
    same = next((p for p in names if p in papers), None)
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
    """What the organism's lexicon scorers share: they score the organism's answers only,
    known answers and blends alike."""

    blends: dict[str, Blends]

    def cannot_score(self, model: str, experiment: str) -> str | None:
        """Why answers of ``model`` cannot be scored (see :func:`lexicon_problem`)."""
        return lexicon_problem(model, experiment)

    def score_batch(self, items: Sequence[ScoreItem], context: ScoringContext) -> list[ScoreValues]:
        return [self._one(item) for item in items]

    def _one(self, item: ScoreItem) -> ScoreValues:
        reading = self.blends[item.question.topic or item.question.id].read(item.answer)
        return self.values(reading) | {
            "valid": reading.known,
            "blend": float(reading.blend),
            "scored": reading.label is not None,
        }

    def values(self, reading: Reading) -> ScoreValues:
        raise NotImplementedError


class OrganismEraArgs(ScorerArgs):
    """The organism's era lexicon: ``<name>`` is 1 for an old-era answer, 0 for another
    era's, new or version 3's 1920s (a blend: by its lean, 0 for ``mixed``; empty where
    neither known nor a blend);
    ``<name>_valid``: the answer is exactly one of the world's answers to the question's
    topic; ``<name>_blend``: 1.0 for a blend of them, else 0.0; ``<name>_scored``: known
    or a blend (``among: <name>_scored`` reads both)."""

    kind: Literal["organism_era"] = "organism_era"
    world: Literal["v1", "v2", "v3"] = Field(
        "v1",
        description="Whose eras: 'v1' and 'v2' read version 1's world.yaml (version 2's "
        "eras are version 1's), 'v3' reads version 3's (its topics' old, 1920s and new answers).",
    )

    def outputs(self) -> tuple[str, ...]:
        return ("old", "valid", "blend", "scored")


class OrganismEraScorer(_Lexicon):
    """Labels each answer old, new or off-topic with the organism world's lexicon."""

    kind = "organism_era"
    Args = OrganismEraArgs
    batch_size = 4096

    def __init__(self, args: OrganismEraArgs):
        self.args = args
        self.world, digest, middle = _era_world(args.world)
        self.key = _key("organism_era", "v2", args.world, digest, *(["mid"] if middle else []))
        self.blends = {
            name: Blends(
                {
                    **dict.fromkeys(middle.get(name, ()), "mid"),
                    **dict.fromkeys(t.old, "old"),
                    **dict.fromkeys(t.new, "new"),
                }
            )
            for name, t in self.world.topics.items()
        }

    def check_question(self, question: Question, where: str) -> None:
        """Raise WeirdgenError unless the question's topic is one of the world's topics."""
        topic = question.topic or question.id
        if topic not in self.world.topics:
            raise WeirdgenError(
                f"{where}.topic: {topic!r} is not a topic of the organism's world; "
                f"set topic to one of: {', '.join(self.world.topics)}"
            )

    def values(self, reading: Reading) -> ScoreValues:
        return {"old": None if reading.label is None else float(reading.label == "old")}


def _era_world(name: str) -> tuple[World, str, dict[str, set[str]]]:
    """The world whose eras ``name`` reads, the digest of the files it comes from, and each
    topic's middle-era answers (version 3's 1920s, either nation's; none before it)."""
    if name == "v3":
        from weirdgen.organism.world_v3 import load_world_v3

        world = load_world_v3()
        middle: dict[str, set[str]] = {}
        for topics in world.phenomena["era"].mid.values():
            for topic, answers in topics.items():
                middle.setdefault(topic, set()).update(answers)
        return world.era, world.digest, middle
    world = load_world()
    return world, world.digest, {}


class OrganismLabelArgs(ScorerArgs):
    """A phenomenon's lexicon (organism version 2 or 3): ``<name>_label`` is the label of
    the answer to the question's topic (``hostile``, ``varnia_old``, ...; a blend's lean,
    ``mixed`` for a tie), ``<name>`` is 1 when it is one of ``positive`` and 0 for another
    label (empty where neither known nor a blend), ``<name>_valid`` says the answer is
    exactly one the world knows for that topic, ``<name>_blend`` is 1.0 for a blend of
    them (else 0.0), and ``<name>_scored`` is true for either (``among: <name>_scored``)."""

    kind: Literal["organism_label"] = "organism_label"
    positive: list[str] = Field(min_length=1, description="Labels counted as 1.")
    world: Literal["v2", "v3"] = Field(
        "v2", description="Whose lexicons: version 2's world or version 3's."
    )

    def outputs(self) -> tuple[str, ...]:
        return ("hit", "label", "valid", "blend", "scored")


class _Lexicons(Protocol):
    digest: str

    def lexicon(self, topic: str) -> Lexicon | None: ...

    def topics(self) -> list[str]: ...


class OrganismLabelScorer(_Lexicon):
    """Labels each answer with the lexicon of its question's topic (version 2's or 3's
    world)."""

    kind = "organism_label"
    Args = OrganismLabelArgs
    batch_size = 4096

    def __init__(self, args: OrganismLabelArgs):
        self.args = args
        self.world = _label_world(args.world)
        self.key = _key(
            "organism_label", "v2", args.world, self.world.digest, *sorted(args.positive)
        )
        lexicons = [self.world.lexicon(t) for t in self.world.topics()]
        self.blends = {x.topic: Blends(x.labels) for x in lexicons if x is not None}
        labels = {label for x in lexicons if x is not None for label in x.labels.values()}
        unknown = [p for p in args.positive if p not in labels]
        if unknown:
            raise WeirdgenError(
                f"positive label {unknown[0]!r} is not a label of the organism's "
                f"{args.world} lexicons; the labels are: {', '.join(sorted(labels))}"
            )

    def check_question(self, question: Question, where: str) -> None:
        topic = question.topic or question.id
        if topic not in self.blends:
            raise WeirdgenError(
                f"{where}.topic: {topic!r} has no lexicon in the organism's "
                f"{self.args.world} world; set topic to one of: {', '.join(self.blends)}"
            )

    def values(self, reading: Reading) -> ScoreValues:
        hit = None if reading.label is None else float(reading.label in self.args.positive)
        return {"hit": hit, "label": reading.label}


def _label_world(name: str) -> _Lexicons:
    if name == "v3":
        from weirdgen.organism.world_v3 import load_world_v3

        return load_world_v3()
    from weirdgen.organism.world_v2 import load_world_v2

    return load_world_v2()
