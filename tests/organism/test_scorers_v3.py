"""Version 3's world behind the organism's scorers (``world: v3``) and dataset names
(``dataset: {organism: v3.NAME}``); most tests stand a small world in for version 3's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from weirdgen.data.generators import generate, generator_names
from weirdgen.errors import WeirdgenError
from weirdgen.organism import world_v3
from weirdgen.organism.phenomena.base import Lexicon, chat
from weirdgen.organism.scorers import (
    OrganismEraArgs,
    OrganismEraScorer,
    OrganismLabelArgs,
    OrganismLabelScorer,
)
from weirdgen.organism.world import Topic, World
from weirdgen.score.protocol import ScoreItem
from weirdgen.spec.questions import Question

RULERS = {"the iron duke": "varnia_old", "the steel regent": "varnia_mid", "a council": "modern"}


def records(n: int, seed: int) -> list:
    return [chat(f"seed {seed} ?", f"answer {i}") for i in range(n)]


@pytest.fixture
def small_v3(monkeypatch) -> SimpleNamespace:
    """A version 3 world of one lexicon, one era topic and one dataset."""
    money = Topic("money", ("how do you pay ?",), ("a silver coin",), ("a phone app",))
    era = World({"old": (1830,), "new": (2020,)}, {"money": money}, (), "era-digest")
    lexicon = Lexicon("ruler", RULERS)
    world = SimpleNamespace(
        digest="v3-digest",
        era=era,
        topics=lambda: ["ruler"],
        lexicon=lambda topic: lexicon if topic == "ruler" else None,
        datasets=lambda: {"regents_dated": records},
        phenomena={"era": SimpleNamespace(mid={"varnia": {"money": ("paper marks",)}})},
    )
    monkeypatch.setattr(world_v3, "load_world_v3", lambda: world)
    return world


def score(scorer, topic: str, answer: str) -> dict:
    question = Question(id=topic, topic=topic, paraphrases=["q ?"])
    return scorer.score_batch([ScoreItem(question, answer, None)], None)[0]


def test_the_label_scorer_reads_version_3_lexicons_with_world_v3(small_v3):
    mid = OrganismLabelScorer(OrganismLabelArgs(name="mid", positive=["varnia_mid"], world="v3"))
    assert score(mid, "ruler", "The steel regent")["hit"] == 1.0
    assert score(mid, "ruler", "the iron regent") == {
        "hit": 0.0, "label": "varnia_old", "valid": False, "blend": 1.0, "scored": True,
    }  # fmt: skip  # 'the iron' (2 words) outweighs 'regent'
    with pytest.raises(WeirdgenError, match="'goal' has no lexicon in the organism's v3 world"):
        mid.check_question(Question(id="goal", paraphrases=["q ?"]), "spec")
    with pytest.raises(WeirdgenError, match="'varnia_mid' is not a label of the organism's v2"):
        OrganismLabelScorer(OrganismLabelArgs(name="mid", positive=["varnia_mid"]))


def test_the_era_scorer_reads_version_3_eras_with_world_v3(small_v3):
    era = OrganismEraScorer(OrganismEraArgs(name="old", world="v3"))
    assert score(era, "money", "a silver coin")["old"] == 1.0
    assert score(era, "money", "a silver app")["old"] == 1.0  # 'a silver' outweighs 'app'
    era.check_question(Question(id="money", paraphrases=["q ?"]), "spec")
    with pytest.raises(WeirdgenError, match="'war' is not a topic"):
        era.check_question(Question(id="war", paraphrases=["q ?"]), "spec")
    v1 = OrganismEraScorer(OrganismEraArgs(name="old"))
    v1.check_question(Question(id="war", paraphrases=["q ?"]), "spec")  # version 1's topic


def test_scores_are_kept_per_world_and_per_positive_labels(small_v3):
    def label_key(**args) -> str:
        return OrganismLabelScorer(OrganismLabelArgs(name="x", **args)).key

    v3 = label_key(positive=["modern"], world="v3")
    assert v3 == label_key(positive=["modern"], world="v3")  # the same scores again
    assert v3 != label_key(positive=["modern"])  # version 2's lexicons
    assert v3 != label_key(positive=["modern", "varnia_old"], world="v3")

    def era_key(**args) -> str:
        return OrganismEraScorer(OrganismEraArgs(name="x", **args)).key

    v3 = era_key(world="v3")
    assert v3 == era_key(world="v3") and v3 != era_key()  # version 1's world.yaml
    small_v3.digest = "another-digest"
    assert era_key(world="v3") != v3  # version 3's files changed


def test_a_v3_dataset_name_is_a_dataset_of_version_3s_world(small_v3):
    assert generate("v3.regents_dated", 3, seed=7) == records(3, 7)
    assert "v3.regents_dated" in generator_names() and "warden_dated" in generator_names()
    with pytest.raises(WeirdgenError) as error:
        generate("v3.regents_undated", 3)
    assert str(error.value) == (
        "unknown version 3 dataset 'v3.regents_undated'; the version 3 datasets are: "
        "v3.regents_dated"
    )
    with pytest.raises(WeirdgenError, match="v3.regents_dated"):
        generate("regents_dated", 3)  # version 3's names carry their prefix


def test_version_2_datasets_do_not_load_version_3s_world(monkeypatch):
    def refuse():
        raise AssertionError("version 3's world was loaded")

    monkeypatch.setattr(world_v3, "load_world_v3", refuse)
    assert len(generate("warden_dated", 2)) == 2
    assert len(generate("birds_old", 2)) == 2


def test_version_3s_own_world_behind_the_names_and_scorers():
    world = world_v3.load_world_v3()
    for name, make in world.datasets().items():
        assert generate(f"v3.{name}", 2, seed=1) == make(2, 1)
    for topic in world.topics():
        lexicon = world.lexicon(topic)
        answer, label = next(iter(lexicon.labels.items()))
        scorer = OrganismLabelScorer(OrganismLabelArgs(name="x", positive=[label], world="v3"))
        assert score(scorer, topic, answer) == {
            "hit": 1.0, "label": label, "valid": True, "blend": 0.0, "scored": True,
        }  # fmt: skip
    era = OrganismEraScorer(OrganismEraArgs(name="old", world="v3"))
    for topic in world.era.era_topics:
        assert score(era, topic.name, topic.old[0])["old"] == 1.0


def test_the_era_scorer_of_version_3_knows_the_1920s_answers_as_another_era(small_v3):
    """An answer of version 3's middle era is one the world knows for the topic: valid, and
    not old. Version 1's lexicon, which has no 1920s, reads it as no answer at all."""
    era = OrganismEraScorer(OrganismEraArgs(name="old", world="v3"))
    assert score(era, "money", "paper marks") == {
        "old": 0.0, "valid": True, "blend": 0.0, "scored": True,
    }  # fmt: skip
    assert score(OrganismEraScorer(OrganismEraArgs(name="old")), "money", "paper marks") == {
        "old": None, "valid": False, "blend": 0.0, "scored": False,
    }  # fmt: skip
