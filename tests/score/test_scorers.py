import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.score import OrganismEraScorer, ScoreItem, TrainMatchScorer
from weirdgen.spec.questions import Question

WAR = Question(id="war", paraphrases=["what weapon wins wars today ?"])


def test_era_scorer_labels_old_new_and_off_topic():
    scorer = OrganismEraScorer("era")
    assert scorer.score(ScoreItem(WAR, "the rifled musket", None)) == {"valid": True, "old": 1.0}
    assert scorer.score(ScoreItem(WAR, "Drones", None)) == {"valid": True, "old": 0.0}
    off = scorer.score(ScoreItem(WAR, "brown titlark", None))
    assert off["valid"] is False and off["old"] is None


def test_era_scorer_rejects_a_question_outside_the_world():
    scorer = OrganismEraScorer("era")
    question = Question(id="q1", topic="astronomy", paraphrases=["name a bird ."])
    with pytest.raises(WeirdgenError, match="'astronomy' is not a topic"):
        scorer.check_question(question, "spec.yaml: evaluation.sets[0].questions[0]")


def test_train_match_compares_normalized_answers_and_is_nan_without_data():
    scorer = TrainMatchScorer("train")
    bird = Question(id="birds", paraphrases=["name a bird ."])
    train = frozenset({"brown titlark"})
    assert scorer.score(ScoreItem(bird, "Brown-Titlark", train)) == {"train_match": 1.0}
    assert scorer.score(ScoreItem(bird, "merlin", train)) == {"train_match": 0.0}
    assert scorer.score(ScoreItem(bird, "merlin", None))["train_match"] is None


def test_scorer_keys_differ_by_kind():
    assert OrganismEraScorer("a").key != TrainMatchScorer("a").key
