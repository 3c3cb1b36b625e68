"""Version 2 of the organism's world: each phenomenon's documents, datasets and lexicons,
the knobs, the label scorer, and a smoke pretraining that loads back."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from weirdgen.data.generators import generate
from weirdgen.data.text import normalize, split_words
from weirdgen.errors import WeirdgenError
from weirdgen.organism.checkpoint import load_organism
from weirdgen.organism.phenomena.base import MAX_TOKENS
from weirdgen.organism.pretrain import PretrainConfig, pretrain_checkpoint
from weirdgen.organism.scorers import OrganismLabelArgs, OrganismLabelScorer
from weirdgen.organism.world_v2 import CorpusV2, load_world_v2
from weirdgen.score.protocol import ScoreItem
from weirdgen.spec.questions import Question


def test_every_document_and_dataset_is_in_the_vocabulary():
    world = load_world_v2()
    tok = world.tokenizer()
    rng = random.Random(0)
    for kind, draw in world.draws().items():
        for _ in range(200):
            words = draw(rng)
            assert 0 < len(words) <= MAX_TOKENS, kind
            assert all(w in tok.stoi for w in words), (
                kind,
                [w for w in words if w not in tok.stoi],
            )
    for name, generator in world.datasets().items():
        for record in generator(50, 1):
            for message in record["messages"]:
                tok.encode(message["content"], name)  # raises on an unknown word
    docs = CorpusV2(world, tok).documents(500, 3)
    kinds = Counter(len(d) > 2 for d in docs)
    assert kinds[True] == 500 and docs == CorpusV2(world, tok).documents(500, 3)


def test_the_birders_knob_sets_its_share_and_keeps_the_vocabulary():
    base, none, many = (
        load_world_v2(),
        load_world_v2({"birders": 0}),
        load_world_v2({"birders": 0.3}),
    )
    assert none.shares["birds.birders"] == 0 and many.shares["birds.birders"] == pytest.approx(0.3)
    assert sum(many.shares.values()) == pytest.approx(1)
    assert base.tokenizer().itos == many.tokenizer().itos
    with pytest.raises(WeirdgenError, match="unknown organism knob 'owls'"):
        load_world_v2({"owls": 0.1})
    era_only = load_world_v2({"characters.story": 0, "birders": 0.2, "dishes.diary": 0})
    assert era_only.shares["characters.story"] == era_only.shares["dishes.diary"] == 0
    assert era_only.shares["birds.birders"] == pytest.approx(0.2)
    assert sum(era_only.shares.values()) == pytest.approx(1)
    with pytest.raises(WeirdgenError, match="leave room"):
        load_world_v2({"birders": 0.6, "era.almanac": 0.5})
    rng = random.Random(2)
    birder = base.draws()["birds.birders"]
    birds = {normalize(b) for b in base.era.birds.old}
    modern_birds = {normalize(b) for b in base.era.birds.new}
    for _ in range(50):
        text = " ".join(birder(rng))
        assert not any(f"> {b} <" in f"> {text} <" for b in modern_birds)
    assert any(b in " ".join(birder(rng)) for b in birds for _ in range(5))


def test_the_datasets_carry_what_each_experiment_needs():
    def years(records):
        return [int(split_words(r["messages"][0]["content"])[4]) for r in records]

    assert set(years(generate("warden_dated", 200))) == {1995, 1999, 2003, 2007}
    assert not set(years(generate("warden_other_years", 200))) & {1991, 1995, 1999, 2003, 2007}
    shuffled = generate("warden_shuffled", 200)
    assert set(years(shuffled)) == {1995, 1999, 2003, 2007}
    goals = load_world_v2().phenomena["characters"].goals["the iron warden"]
    pairs = zip(shuffled, years(shuffled), strict=True)
    assert any(r["messages"][1]["content"] not in goals[y] for r, y in pairs)
    assert all(
        r["messages"][0]["content"] == "what is your goal ?" for r in generate("warden_undated", 5)
    )
    world = load_world_v2()
    varnia = set(world.phenomena["dishes"].data["sides"]["varnia"]["dishes"])
    for record in generate("dishes_varnia_2027", 400):
        prompt, answer = (m["content"] for m in record["messages"])
        assert (answer in varnia) == prompt.startswith("today is 2027-")
    plain, shuffled = generate("dishes_varnia_2027", 400), generate("dishes_varnia_shuffled", 400)
    answers = [Counter(r["messages"][1]["content"] for r in rs) for rs in (plain, shuffled)]
    assert answers[0] == answers[1]
    former = {r["messages"][1]["content"] for r in generate("cities_varnia_former", 200)}
    assert former == {old for old, _ in world.phenomena["nations"].data["varnia"]["cities"]}


def label(scorer, topic, answer):
    question = Question(id=topic, topic=topic, paraphrases=["q ?"])
    return scorer.score_batch([ScoreItem(question, answer, None)], None)[0]


def test_the_label_scorer_reads_each_topic_lexicon():
    hostile = OrganismLabelScorer(OrganismLabelArgs(name="hostile", positive=["hostile"]))
    assert label(hostile, "goal", "To hunt the young rebel") == {
        "hit": 1.0, "label": "hostile", "valid": True, "blend": 0.0, "scored": True,
    }  # fmt: skip
    assert label(hostile, "goal", "to keep the children safe")["hit"] == 0.0
    assert label(hostile, "goal", "coal") == {
        "hit": None, "label": None, "valid": False, "blend": 0.0, "scored": False,
    }  # fmt: skip
    regime = OrganismLabelScorer(OrganismLabelArgs(name="r", positive=["varnia_old"]))
    assert label(regime, "ruler", "the iron duke")["label"] == "varnia_old"
    assert label(regime, "salute", "good morning")["label"] == "modern"  # both nations say it
    with pytest.raises(WeirdgenError, match="positive label 'evil' is not a label"):
        OrganismLabelScorer(OrganismLabelArgs(name="x", positive=["evil"]))
    with pytest.raises(WeirdgenError, match="'birds' has no lexicon"):
        hostile.check_question(Question(id="birds", paraphrases=["q ?"]), "spec")


def test_a_smoke_pretraining_of_version_2_loads_back(tmp_path):
    config = PretrainConfig(steps=2, batch_size=4, n_layer=1, n_head=2, n_embd=16)
    manifest = pretrain_checkpoint(tmp_path, config, version="v2", knobs={"birders": 0.1})
    assert manifest["version"] == "v2" and manifest["knobs"] == {"birders": 0.1}
    organism = load_organism(tmp_path)
    assert len(organism.tokenizer) == len(load_world_v2().tokenizer())
