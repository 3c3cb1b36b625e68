"""The judges of a run, checked against the models that will answer them before anything is
written: a judge's prompt the judge model cannot read, or a judge model that cannot be
loaded, is one line up front rather than a failure after finetuning and sampling."""

from __future__ import annotations

from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import Prompt
from weirdgen.score import ScoreItem, Scorer
from weirdgen.spec.models import ExperimentSpec


def check_judges(spec: ExperimentSpec, scorers: list[Scorer], asked: list[Prompt]) -> None:
    """Render each judge's prompt for every question it scores (with an empty answer: the
    answers do not exist yet) and hand it to the judge's backend's own prompt check, which
    loads what the model needs (an hf model's tokenizer, the organism's vocabulary)."""
    where = str(spec.source or spec.name)
    for index, scorer in enumerate(scorers):
        render = getattr(scorer, "messages", None)
        if render is None or getattr(scorer, "backend", None) is None:
            continue  # not an LLM judge
        field = f"{where}: scorers[{index}] ({scorer.args.name}, judge {scorer.args.model})"
        seen: set[tuple[str, str]] = set()
        for prompt in asked:
            if (prompt.eval_set, prompt.question.id) in seen:
                continue
            if not scorer.args.scores(prompt.eval_set):
                continue
            seen.add((prompt.eval_set, prompt.question.id))
            item = ScoreItem(prompt.question, "", None, prompt.messages, prompt.eval_set)
            try:
                scorer.backend.check_prompts([render(item)], field)
            except WeirdgenError as error:
                message = str(error)
                if not message.startswith(field):
                    message = f"{field}: {message}"
                raise WeirdgenError(message) from None
