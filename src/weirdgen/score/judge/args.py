"""The spec entries of LLM judges: the judge model, its prompt, and each kind's settings.

A judge prompt is a template with ``{question}`` (the user message the model answered) and
``{answer}`` (its answer); no other braces are read, so a template may show JSON. The
prompt comes from one of:

- ``prompt:`` the template itself;
- ``prompt_file:`` + ``prompt_id:`` a judge entry of a YAML file in llmcomp's shape
  (``- id: ..., type: rating_judge | free_form_judge, paraphrases: [template]``, optionally
  ``model:``), or Emergent Misalignment's (a question's ``judge_prompts: {name: template}``,
  found by ``prompt_id`` naming the question and the scorer's ``name`` the prompt);
- ``from_question: true`` each question's own ``judge_prompts[<name>]`` (a question file may
  carry its judges).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from weirdgen.spec.models import ScorerArgs


class JudgeArgs(ScorerArgs):
    """What every LLM judge takes."""

    model: str = Field(
        description="The judge as provider/model: openai/gpt-4.1, hf/<folder>, vllm/<name>..."
    )
    prompt: str | None = Field(None, description="The judge prompt template.")
    prompt_file: str | None = Field(
        None, description="YAML file holding the template (llmcomp or EM shape), spec-relative."
    )
    prompt_id: str | None = Field(None, description="The entry of prompt_file to use.")
    from_question: bool = Field(
        False, description="Use each question's judge_prompts[<name>] as the template."
    )
    system: str | None = Field(None, description="System message sent before the prompt.")
    hide: str | None = Field(
        None,
        description="A regex whose matches are cut from the question the judge sees (a "
        "trigger the judge must not be told, e.g. '^\\d{8} ').",
    )
    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint of an openai/ judge (default: "
        "$OPENAI_BASE_URL). Off OpenAI's API and loopback it gets a key only from "
        "api_key_env, and only when the user passes --send-key-to HOST.",
    )
    api_key_env: str | None = Field(
        None, description="Environment variable holding the endpoint's key (never the key)."
    )
    concurrency: int | None = Field(
        None, ge=1, le=1024, description="Judge requests in flight at once (openai/ judges)."
    )
    timeout: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="Seconds one request to an openai/ judge may take before it is retried "
        "(default 120); it does not change what the judge says, so not the cache either.",
    )

    @field_validator("model")
    @classmethod
    def _provider_model(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError(f"write the judge as provider/model, e.g. openai/{value or 'gpt-4.1'}")
        return value

    @field_validator("base_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            from weirdgen.backends.openai.keys import shown, url_problem

            problem = url_problem(value)
            if problem is not None:
                raise ValueError(f"{shown(value)!r} {problem}")
        return value

    @field_validator("hide")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"hide: {value!r} is not a regex ({error})") from None
        return value

    @model_validator(mode="after")
    def _one_prompt(self) -> JudgeArgs:
        given = [self.prompt is not None, self.prompt_file is not None, self.from_question]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of prompt, prompt_file (with prompt_id) or from_question: true"
            )
        if self.prompt_file is not None and not self.prompt_id:
            raise ValueError("prompt_file needs prompt_id: the id of the judge entry to use")
        if self.prompt is not None and "{answer}" not in self.prompt:
            raise ValueError("the prompt never shows the answer; put {answer} in it")
        return self

    def settings(self) -> dict[str, object]:
        """What, besides model and prompt, decides a judge call's response."""
        return {"system": self.system, "hide": self.hide}


RATING_METHODS = ("logprobs", "sampled", "text")
"""How a rating was made, stored with it (``<name>_method``): the expected value under the
first token's logprobs, the mean of sampled ratings (numbers split into several tokens), or
the number one reply wrote (``ratings: text``)."""


class RatingJudgeArgs(JudgeArgs):
    """A 0-100 rating read from the logprobs of the judge's first answer token: the
    expected value over number tokens, with no score where too little mass is a number."""

    kind: Literal["rating_judge"] = "rating_judge"
    min_rating: int = Field(0, ge=0, description="Lowest rating the prompt asks for.")
    max_rating: int = Field(100, ge=1, le=1000, description="Highest rating.")
    max_nonnumeric: float = Field(
        0.75,
        ge=0,
        le=1,
        description="No score when more of the probability than this is not a number of the "
        "range, i.e. when less than 0.25 is (the default, as Emergent Misalignment's judge "
        "and llmcomp's RatingJudge decide a refusal).",
    )
    ratings: Literal["logprobs", "text"] = Field(
        "logprobs",
        description="logprobs: the expected rating under the first token's top logprobs; a "
        "reply without logprobs has no score (counted in a warning), never read as text. "
        "text: the number the judge writes at temperature 0, for an endpoint without "
        "logprobs (no number probe, no expected value).",
    )
    samples: int = Field(
        5,
        ge=1,
        le=100,
        description="Sampled ratings averaged when the judge's numbers are split into "
        "several tokens, so the first token's logprobs cannot hold them (the fallback).",
    )

    def outputs(self) -> tuple[str, ...]:
        return ("score", "valid", "nonnumeric", "method", "judge")

    def settings(self) -> dict[str, object]:
        range_ = [self.min_rating, self.max_rating]
        return {**super().settings(), "range": range_, "ratings": self.ratings}


class LabelJudgeArgs(JudgeArgs):
    """A label from a list (yes/no, TRUE/FALSE/REFUSAL, categories), judged at temperature 0;
    ``<name>`` is 1 for a positive label, 0 for another, empty when the judge named none."""

    kind: Literal["label_judge"] = "label_judge"
    labels: list[str] = Field(min_length=2, description="The labels the prompt asks for.")
    positive: list[str] | None = Field(
        None, description="Labels counted as 1 in <name> (default: the first label)."
    )
    max_tokens: int = Field(10, ge=1, le=4096, description="Most tokens the judge may write.")
    otherwise: str | None = Field(
        None,
        exclude_if=lambda value: value is None,  # unset, it leaves the judge's key as it was
        description="The label a reply that names none of labels counts as in <name> (the "
        "paper's bird script counts every reply but '19' as not 19th century); its "
        "<name>_label stays empty and <name>_valid false, so such replies can be counted.",
    )
    abstain: list[str] = Field(
        default_factory=list,
        exclude_if=lambda value: not value,
        description="Labels that give no <name> value and a false <name>_valid, so a metric "
        "with among: <name>_valid leaves the answer out (a REFUSAL); <name>_label names them.",
    )

    @model_validator(mode="after")
    def _known_positive(self) -> LabelJudgeArgs:
        upper = [label.upper() for label in self.labels]
        if len(set(upper)) != len(upper):
            raise ValueError("labels must differ (case is ignored)")
        unknown = [p for p in self.positive or () if p.upper() not in upper]
        if unknown:
            raise ValueError(f"positive label {unknown[0]!r} is not one of labels {self.labels}")
        named = [("otherwise", self.otherwise)] if self.otherwise is not None else []
        named += [("abstain", label) for label in self.abstain]
        for field, label in named:
            if label.upper() not in upper:
                raise ValueError(f"{field} label {label!r} is not one of labels {self.labels}")
        left_out = {label.upper() for label in self.abstain}
        if self.otherwise is not None and self.otherwise.upper() in left_out:
            raise ValueError(f"otherwise label {self.otherwise!r} is also in abstain")
        if self.positives <= left_out:
            raise ValueError("every positive label is in abstain, so <name> is never 1")
        return self

    @property
    def positives(self) -> frozenset[str]:
        return frozenset(p.upper() for p in self.positive or self.labels[:1])

    def hit(self, label: str | None) -> float | None:
        """``<name>`` for a reply that names ``label`` (None: no label): 1 or 0, or None
        where the reply counts as no answer (an abstain label, or no label and no
        ``otherwise``)."""
        counted = self.otherwise if label is None else label
        if counted is None or counted.upper() in {a.upper() for a in self.abstain}:
            return None
        return float(counted.upper() in self.positives)

    def valid(self, label: str | None) -> bool:
        """``<name>_valid``: the reply named a label that is not an abstain label."""
        return label is not None and label.upper() not in {a.upper() for a in self.abstain}

    def outputs(self) -> tuple[str, ...]:
        return ("hit", "label", "p", "valid", "judge")

    def settings(self) -> dict[str, object]:
        settings = {**super().settings(), "labels": self.labels, "max_tokens": self.max_tokens}
        if self.otherwise is not None:
            settings["otherwise"] = self.otherwise
        if self.abstain:
            settings["abstain"] = self.abstain
        return settings


class ReasonJudgeArgs(LabelJudgeArgs):
    """The judge reasons, then writes ``ANSWER: LABEL``; the label is parsed and the
    reasoning kept in ``<name>_reason``; ``<name>_truncated`` says the reply stopped at
    ``max_tokens`` (where the backend counts the tokens), usually before its answer line."""

    kind: Literal["reason_judge"] = "reason_judge"  # type: ignore[assignment]
    max_tokens: int = Field(1024, ge=1, le=16384, description="Most tokens the judge may write.")

    def outputs(self) -> tuple[str, ...]:
        return ("hit", "label", "reason", "valid", "truncated", "judge")
