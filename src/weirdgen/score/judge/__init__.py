"""LLM judges: a 0-100 rating from logprobs, labels, and reason-then-label, through any
backend, cached across runs in the registry's database."""

from weirdgen.score.judge.args import JudgeArgs, LabelJudgeArgs, RatingJudgeArgs, ReasonJudgeArgs
from weirdgen.score.judge.base import Judge
from weirdgen.score.judge.labels import LabelJudge, ReasonJudge, label_probability, parse_label
from weirdgen.score.judge.rating import RatingJudge, expected_rating, sampled_rating

__all__ = [
    "Judge",
    "JudgeArgs",
    "LabelJudge",
    "LabelJudgeArgs",
    "RatingJudge",
    "RatingJudgeArgs",
    "ReasonJudge",
    "ReasonJudgeArgs",
    "expected_rating",
    "label_probability",
    "parse_label",
    "sampled_rating",
]
