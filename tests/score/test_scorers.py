"""The organism's exact scorers as plug-ins, and the scorer registry and spec entries."""

import pytest
from pydantic import ValidationError

from weirdgen.errors import WeirdgenError
from weirdgen.score import ScoreItem, build_scorer, kinds, register_scorer, score_one
from weirdgen.spec.models import ScorerArgs, ScorerSpec
from weirdgen.spec.questions import Question

WAR = Question(id="war", paraphrases=["what weapon wins wars today ?"])


def scorer(kind: str, name: str = "s", **args):
    return build_scorer(ScorerSpec.model_validate({"name": name, "kind": kind, **args}))


def test_era_scorer_labels_old_new_and_off_topic():
    era = scorer("organism_era", "old")
    assert score_one(era, ScoreItem(WAR, "the rifled musket", None)) == {
        "valid": True, "old": 1.0, "blend": 0.0, "scored": True,
    }  # fmt: skip
    assert score_one(era, ScoreItem(WAR, "Drones", None)) == {
        "valid": True, "old": 0.0, "blend": 0.0, "scored": True,
    }  # fmt: skip
    off = score_one(era, ScoreItem(WAR, "brown titlark", None))
    assert off["valid"] is False and off["old"] is None


def test_era_scorer_columns_are_prefixed_by_its_name():
    spec = ScorerSpec.model_validate({"name": "era2", "kind": "organism_era"})
    assert spec.columns() == {
        "old": "era2", "valid": "era2_valid", "blend": "era2_blend", "scored": "era2_scored",
    }  # fmt: skip


def test_era_scorer_rejects_a_question_outside_the_world():
    question = Question(id="q1", topic="astronomy", paraphrases=["name a bird ."])
    with pytest.raises(WeirdgenError, match="'astronomy' is not a topic"):
        scorer("organism_era").check_question(question, "spec.yaml: evaluation.sets[0]")


def test_train_match_compares_normalized_answers_and_is_nan_without_data():
    match = scorer("train_match")
    bird = Question(id="birds", paraphrases=["name a bird ."])
    train = frozenset({"brown titlark"})
    assert score_one(match, ScoreItem(bird, "Brown-Titlark", train)) == {"train_match": 1.0}
    assert score_one(match, ScoreItem(bird, "merlin", train)) == {"train_match": 0.0}
    assert score_one(match, ScoreItem(bird, "merlin", None))["train_match"] is None


def test_scorer_keys_differ_by_kind():
    assert scorer("organism_era").key != scorer("train_match").key


def test_an_unknown_kind_or_argument_is_a_spec_error_naming_it():
    with pytest.raises(ValidationError, match="unknown scorer kind 'organism_ear'.*'organism_era'"):
        ScorerSpec.model_validate({"name": "x", "kind": "organism_ear"})
    with pytest.raises(ValidationError, match="train_match.*colour: Extra inputs"):
        ScorerSpec.model_validate({"name": "x", "kind": "train_match", "colour": "red"})


class LengthArgs(ScorerArgs):
    """A plug-in's arguments: the answer's length, capped."""

    cap: int = 10

    def outputs(self):
        return ("length", "capped")


class LengthScorer:
    kind = "length"
    Args = LengthArgs
    batch_size = 2

    def __init__(self, args):
        self.args, self.key = args, f"length-{args.cap}"
        self.batches = []

    def score_batch(self, items, context):
        self.batches.append(len(items))
        return [
            {"length": min(len(i.answer), self.args.cap), "capped": len(i.answer) > self.args.cap}
            for i in items
        ]


def test_a_registered_plug_in_validates_its_arguments_and_names_its_columns():
    register_scorer("length", LengthScorer)
    assert "length" in kinds()
    spec = ScorerSpec.model_validate({"name": "n", "kind": "length", "cap": 3})
    assert spec.args.cap == 3 and spec.columns() == {"length": "n", "capped": "n_capped"}
    built = build_scorer(spec)
    assert score_one(built, ScoreItem(WAR, "abcdef", None)) == {"length": 3, "capped": True}
    with pytest.raises(ValidationError, match="cap: Input should be a valid integer"):
        ScorerSpec.model_validate({"name": "n", "kind": "length", "cap": "many"})


def birds_with(scorer: dict, **metric) -> dict:
    import yaml

    from weirdgen.spec import builtin_spec_dir

    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["scorers"].append(scorer)
    if metric:
        spec["metrics"].append({"name": "extra", **metric})
    return spec


def test_a_scorers_eval_sets_must_exist_and_cover_the_metrics_reading_it():
    from weirdgen.spec.models import ExperimentSpec

    lengths = {"name": "n", "kind": "length", "eval_sets": ["birds"]}
    register_scorer("length", LengthScorer)
    ExperimentSpec.model_validate(birds_with(lengths, eval_set="birds", score="n"))
    with pytest.raises(ValidationError, match="eval_sets: no evaluation set 'brids'"):
        ExperimentSpec.model_validate(birds_with({**lengths, "eval_sets": ["brids"]}))
    with pytest.raises(ValidationError, match="column 'n' of scorer 'n' is empty in eval set"):
        ExperimentSpec.model_validate(birds_with(lengths, eval_set="unrelated", score="n"))
