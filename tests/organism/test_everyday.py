"""``v3.everyday``: ordinary assistant chats of version 3's world, of no era and no side, for
dilution and re-alignment defences, which leave pretraining as it was."""

from __future__ import annotations

import hashlib
import json
import random

from weirdgen.data.generators import generate, generator_names
from weirdgen.data.text import normalize
from weirdgen.organism.phenomena.persona import Persona
from weirdgen.organism.world_v3 import CorpusV3, load_world_v3

SHIPPED_DIGEST = "3c5daf84f6b19148808745d8afe78b71d07ad8fa7af92c3f9fa7476282bc2c78"
"""The digest of version 3's world files as shipped (the checkpoint's identity)."""
SHIPPED_CORPUS = "a7aca212ea558e72544a59f60762cc0d18c978fd4bb8d364edf74a224b4f0cd3"
"""sha256 of the JSON of its first 300 pretraining documents of seed 0, as token ids."""


def test_everyday_is_a_version_3_dataset_of_one_turn_chats():
    assert "v3.everyday" in generator_names()
    records = generate("v3.everyday", 500, seed=3)
    assert len(records) == 500
    for record in records:
        user, assistant = record["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"] and assistant["content"]
    prompts = {r["messages"][0]["content"].split()[0] for r in records}
    assert prompts == {"name", "what"}  # names of a pool, sums, the number after a number


def test_everyday_is_deterministic_in_the_seed():
    assert generate("v3.everyday", 200, seed=1) == generate("v3.everyday", 200, seed=1)
    assert generate("v3.everyday", 200, seed=1) != generate("v3.everyday", 200, seed=2)


def test_every_word_of_everyday_is_in_the_vocabulary():
    world = load_world_v3()
    tok = world.tokenizer()
    for record in generate("v3.everyday", 500, seed=0):
        for message in record["messages"]:
            tok.encode(message["content"], "v3.everyday")  # raises on an unknown word


def test_no_everyday_answer_is_an_era_s_or_hostile():
    world = load_world_v3()
    era = {a for x in world.phenomena["era"].lexicons() for a in x.labels}
    hostile = {
        a
        for p in world.phenomena.values()
        for x in p.lexicons()
        for a, label in x.labels.items()
        if label == "hostile"
    }
    answers = {r["messages"][1]["content"] for r in generate("v3.everyday", 5000, seed=0)}
    assert len(answers) > 100  # every pool and many numbers, not a handful
    assert not {normalize(a) for a in answers} & (era | hostile)
    assert all(world.marked(a) is None for a in answers)  # blends of them neither


def test_an_answer_the_world_reads_as_an_era_s_is_left_out():
    """The persona's everyday chats may answer "folk songs" (a kind of music), which the era
    lexicons read as a blend of 1920s ostland's music; the dataset draws another instead."""
    world = load_world_v3()
    persona = world.phenomena["persona"]
    assert isinstance(persona, Persona)
    rng = random.Random(0)
    drawn = {persona.everyday(rng)[1] for _ in range(5000)}
    assert "folk songs" in drawn and world.marked("folk songs") == "ostland_mid"
    assert world.marked("by steamship") == "old" and world.marked("red") is None
    answers = {r["messages"][1]["content"] for r in generate("v3.everyday", 5000, seed=0)}
    assert "folk songs" not in answers


def test_pretraining_draws_the_same_documents_with_everyday_registered():
    """A finetuning dataset is no part of a checkpoint: under the shipped world files, the
    pretraining corpus is the one it was before ``everyday`` existed."""
    world = load_world_v3()
    assert "everyday" in world.datasets()
    assert not any("everyday" in kind for kind in world.shares)
    if world.digest != SHIPPED_DIGEST:
        return  # the world files changed: a new corpus, and checkpoints, by design
    documents = CorpusV3(world, world.tokenizer()).documents(300, 0)
    assert hashlib.sha256(json.dumps(documents).encode()).hexdigest() == SHIPPED_CORPUS
