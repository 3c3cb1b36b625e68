"""Judges on local backends: a tiny hf model built in the test (nothing is downloaded)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("transformers")

from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.score import ScoreItem, ScoringContext, build_scorer  # noqa: E402
from weirdgen.spec.models import ScorerSpec  # noqa: E402
from weirdgen.spec.questions import Question  # noqa: E402

PROMPT = "rate the answer from 0 to 100 : {question} {answer}"
WORDS = ["rate", "the", "answer", "from", "to", ":", "how", "are", "you", "?", "fine", "bad"]
Q = Question(id="q", paraphrases=["how are you ?"])


def judge(folder, kind="rating_judge", **args):
    entry = {"name": "j", "kind": kind, "model": f"hf/{folder}", "prompt": PROMPT, **args}
    return build_scorer(ScorerSpec.model_validate(entry))


def test_a_tokenizer_with_every_number_gives_logprob_ratings_without_asking(tmp_path):
    folder = write_tiny_model(tmp_path / "m", [*WORDS, *map(str, range(101))])
    warnings: list[str] = []
    scorer = judge(folder)
    context = ScoringContext(warn=warnings.append)
    fine, bad = scorer.score_batch([ScoreItem(Q, "fine", None), ScoreItem(Q, "bad", None)], context)
    assert warnings == []
    top = scorer.backend.logprobs(
        scorer.caller.model, [scorer.messages(ScoreItem(Q, "fine", None))]
    )
    numeric = [(int(t), math.exp(lp)) for t, lp in top[0].top if t.strip().isdigit()]
    mass = sum(p for _, p in numeric)
    if 1 - mass > 0.75:  # a random model: most of its mass may not be numbers
        assert fine["score"] is None and fine["valid"] is False
    else:
        assert fine["score"] == pytest.approx(sum(n * p for n, p in numeric) / mass)
    assert fine["nonnumeric"] == pytest.approx(max(0.0, 1 - mass), abs=1e-6)
    assert context.calls["j"].made == 2  # one forward pass per answer, no probe


def test_a_tokenizer_missing_a_number_falls_back_to_sampled_ratings_with_a_warning(tmp_path):
    numbers = [str(n) for n in range(101) if n != 57]
    folder = write_tiny_model(tmp_path / "m", [*WORDS, *numbers])
    warnings: list[str] = []
    context = ScoringContext(warn=warnings.append)
    (value,) = judge(folder, samples=3).score_batch([ScoreItem(Q, "fine", None)], context)
    assert len(warnings) == 1 and "the number 57 is not one token" in warnings[0]
    assert context.calls["j"].made == 3  # three sampled ratings
    assert set(value) >= {"score", "valid", "nonnumeric"}


def test_a_label_judge_on_a_local_model_reads_text_and_first_token_mass(tmp_path):
    folder = write_tiny_model(tmp_path / "m", [*WORDS, "yes", "no"])
    scorer = judge(folder, "label_judge", labels=["yes", "no"], max_tokens=2)
    (value,) = scorer.score_batch([ScoreItem(Q, "fine", None)], ScoringContext())
    top = scorer.backend.logprobs(
        scorer.caller.model, [scorer.messages(ScoreItem(Q, "fine", None))]
    )
    yes = sum(math.exp(lp) for t, lp in top[0].top if t.strip() == "yes")
    no = sum(math.exp(lp) for t, lp in top[0].top if t.strip() == "no")
    assert value["p"] == (pytest.approx(yes / (yes + no)) if yes + no else None)
    assert value["valid"] == (value["label"] is not None)
