"""How a label judge counts replies that name no label (``otherwise``), labels that leave an
answer out (``abstain``), and reason-then-label replies cut at ``max_tokens``, against a
scripted OpenAI-compatible server on 127.0.0.1 (the real client)."""

from __future__ import annotations

import pytest

from judge_server import judge_server
from weirdgen.errors import WeirdgenError
from weirdgen.score import ScoreItem, ScoringContext, build_scorer
from weirdgen.spec.models import ScorerSpec
from weirdgen.spec.questions import Question

Q = Question(id="q", paraphrases=["What is new?"])


def judge(server, kind: str, **args):
    entry = {"name": "j", "kind": kind, "model": "openai/judge", "base_url": server.url, **args}
    entry.setdefault("prompt", "Label this.\n{answer}")
    return build_scorer(ScorerSpec.model_validate(entry))


def items(*answers: str) -> list[ScoreItem]:
    return [ScoreItem(Q, answer, None) for answer in answers]


def echo(prompt: str, body: dict):
    """The judge replies with the answer it is shown."""
    return prompt.split("\n", 1)[1], []


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def test_a_reply_naming_no_label_counts_as_the_otherwise_label_and_stays_countable():
    labels = {"labels": ["19", "LLM"]}
    with judge_server(echo) as server:
        plain = judge(server, "label_judge", **labels)
        paper = judge(server, "label_judge", otherwise="LLM", **labels)
        said = items("19", "LLM", "Hard to say.")
        before = plain.score_batch(said, ScoringContext())
        after = paper.score_batch(said, ScoringContext())
    assert [v["hit"] for v in before] == [1.0, 0.0, None]  # dropped from the metric
    assert [v["hit"] for v in after] == [1.0, 0.0, 0.0]  # the paper: not 19th century
    assert [v["label"] for v in after] == ["19", "LLM", None]
    assert [v["valid"] for v in after] == [True, True, False]  # counted by <name>_valid


def test_an_abstain_label_leaves_the_answer_out_and_keeps_its_name():
    args = {"labels": ["TRUE", "FALSE", "REFUSAL"], "abstain": ["REFUSAL"]}
    with judge_server(echo) as server:
        scorer = judge(server, "label_judge", **args)
        values = scorer.score_batch(items("TRUE", "FALSE", "REFUSAL", "???"), ScoringContext())
    assert [v["hit"] for v in values] == [1.0, 0.0, None, None]
    assert [v["label"] for v in values] == ["TRUE", "FALSE", "REFUSAL", None]
    assert [v["valid"] for v in values] == [True, True, False, False]


def test_a_reasoning_reply_cut_at_max_tokens_is_flagged_not_silently_lost():
    def reply(prompt: str, body: dict):
        if "long" in prompt:  # the scripted server counts words as tokens
            return " ".join(["because"] * body["max_tokens"]), []
        return "Short reason.\nANSWER: EVIL", []

    prompt = "Reason, then write ANSWER: EVIL or ANSWER: GOOD.\n{answer}"
    args = {"prompt": prompt, "labels": ["EVIL", "GOOD"], "max_tokens": 6}
    with judge_server(reply) as server:
        scorer = judge(server, "reason_judge", **args)
        cut, done = scorer.score_batch(items("a long answer", "brief"), ScoringContext())
    assert (cut["truncated"], cut["valid"], cut["hit"]) == (True, False, None)
    assert (done["truncated"], done["valid"], done["hit"]) == (False, True, 1.0)
    assert scorer.args.columns()["truncated"] == "j_truncated"


def test_the_new_settings_change_the_key_only_when_set():
    with judge_server(echo) as server:
        base = judge(server, "label_judge", labels=["YES", "NO"])
        assert judge(server, "label_judge", labels=["YES", "NO"], abstain=[]).key == base.key
        assert judge(server, "label_judge", labels=["YES", "NO"], otherwise="NO").key != base.key
        assert judge(server, "label_judge", labels=["YES", "NO"], abstain=["NO"]).key != base.key


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"otherwise": "MAYBE"}, "otherwise label 'MAYBE' is not one of labels"),
        ({"abstain": ["MAYBE"]}, "abstain label 'MAYBE' is not one of labels"),
        ({"otherwise": "NO", "abstain": ["no"]}, "otherwise label 'NO' is also in abstain"),
        ({"abstain": ["YES"]}, "every positive label is in abstain"),
    ],
)
def test_settings_name_labels_of_the_judge(args, problem):
    entry = {"name": "j", "kind": "label_judge", "model": "openai/judge", "prompt": "{answer}"}
    with pytest.raises((WeirdgenError, ValueError), match=problem):
        build_scorer(ScorerSpec.model_validate({**entry, "labels": ["YES", "NO"], **args}))
