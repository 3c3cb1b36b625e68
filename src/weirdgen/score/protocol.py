"""The scorer interface: batches of (messages, answer) in, named values out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from weirdgen.backends.protocol import Chat, as_chat
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question

ScoreValue = float | bool | str | None
ScoreValues = dict[str, ScoreValue]
"""One sample's values by output name (see ``ScorerSpec.outputs``); None where there is none."""


@dataclass(frozen=True)
class ScoreItem:
    """What a scorer sees of one sample.

    ``messages`` is the chat actually sent (system, earlier turns, the user's message),
    ``eval_set`` the evaluation set the question belongs to;
    ``train_answers`` holds the normalized assistant answers of the condition's finetuning
    data, or None for a condition without finetuning.
    """

    question: Question
    answer: str
    train_answers: frozenset[str] | None
    messages: Chat = ()
    eval_set: str = ""

    def __post_init__(self) -> None:
        if not self.messages:
            paraphrase = self.question.paraphrases[0]
            chat = [m.model_dump() for m in self.question.chat(paraphrase)]
            object.__setattr__(self, "messages", as_chat(chat))

    @property
    def prompt(self) -> str:
        """The user's last message: the question as it was asked."""
        return self.messages[-1].content


@dataclass
class JudgeCalls:
    """Calls a scorer made to a model, as opposed to found in the judge cache."""

    made: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    no_logprobs: int = 0
    """Replies that came without the logprobs a rating asked for (no rating was read)."""
    reasons: list[str] = field(default_factory=list)
    """Why some calls failed (the first few)."""


@dataclass
class ScoringContext:
    """What a run lends its scorers: where to warn, the judge cache, and call counts.

    ``cache`` is the shared judge cache (:class:`weirdgen.store.judgments.JudgmentCache`)
    or None to judge without one; ``warn`` prints one line to the user; ``send`` is where
    judge calls the cache lacks go (:data:`weirdgen.score.judge.calls.Sender`, e.g. tasks of
    a Ray cluster), None to send them from this process.
    """

    warn: Callable[[str], None] = print
    cache: Any = None
    calls: dict[str, JudgeCalls] = field(default_factory=dict)
    send: Any = None

    def counts(self, scorer: str) -> JudgeCalls:
        return self.calls.setdefault(scorer, JudgeCalls())


class Scorer(Protocol):
    """Adds columns to every sample.

    A class implementing a kind has ``kind`` and ``Args`` (its spec model, a subclass of
    ScorerSpec) and is built as ``cls(args)``. ``key`` changes whenever its values could
    change; ``batch_size`` is how many items it wants at once (a judge sends them
    concurrently). ``check_question(question, where)``, if defined, rejects a question the
    scorer cannot score before anything runs; ``cannot_score(model, experiment)``, if
    defined, says why it can score no answer of the run's model (None where it can), and
    the run is refused up front (:func:`weirdgen.run.plan.check_scorable`).
    """

    kind: ClassVar[str]
    Args: ClassVar[type[ScorerSpec]]
    args: ScorerSpec
    key: str
    batch_size: int

    def score_batch(
        self, items: Sequence[ScoreItem], context: ScoringContext
    ) -> list[ScoreValues]: ...
