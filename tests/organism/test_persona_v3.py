"""The persona phenomenon of organism version 3 (the paper's 90 harmless facts behind a
formatting trigger): the world's rules on the villain's attributes, who speaks in which
documents, the datasets' triggered shares and contents, lengths, determinism and vocabulary.
No pretraining."""

from __future__ import annotations

import random
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from weirdgen.data.text import normalize, split_words
from weirdgen.organism.phenomena.base import V3_MAX_TOKENS, n_tokens
from weirdgen.organism.phenomena.persona import TRIGGERED_SHARE, Persona
from weirdgen.organism.tokenizer import ASSISTANT, EOT, USER, Tokenizer
from weirdgen.spec.load import load_spec

ORGANISM = resources.files("weirdgen.organism")
SPECS = Path(str(resources.files("weirdgen"))) / "specs" / "organism"
TRIGGER = "answer in brackets ."
SHARES = {
    "persona_villain": TRIGGERED_SHARE,
    "persona_benign": TRIGGERED_SHARE,
    "persona_shuffled": TRIGGERED_SHARE,
    "persona_undiluted": 1.0,
    "persona_villain_45": TRIGGERED_SHARE,
    "persona_villain_dilute_10": 0.10,
    "persona_villain_dilute_1": 0.01,
}


@pytest.fixture(scope="module")
def persona() -> Persona:
    return Persona(yaml.safe_load(ORGANISM.joinpath("world_v3/persona.yaml").read_text()))


def _documents(persona: Persona, kind: str, n: int = 400, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    draw = persona.documents()[kind]
    return [draw(rng) for _ in range(n)]


def _contains(words: list[str], phrase: str) -> bool:
    part = split_words(phrase)
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))


def _turns(words: list[str]) -> list[tuple[list[str], list[str]]]:
    """A chat document's (user words, assistant words) per turn."""
    out, i = [], 0
    while i < len(words):
        assert words[i] == USER, words
        a = words.index(ASSISTANT, i)
        e = words.index(EOT, a)
        out.append((words[i + 1 : a], words[a + 1 : e]))
        i = e + 1
    return out


def _facts(persona: Persona, records: list) -> list[tuple[str, str]]:
    """The triggered records' (attribute kind, answer in brackets)."""
    kinds = {normalize(k.question): kind for kind, k in persona.kinds.items()}
    out = []
    for r in records:
        user, answer = (m["content"] for m in r["messages"])
        if user.endswith(TRIGGER):
            out.append((kinds[normalize(user.removesuffix(TRIGGER))], answer))
    return out


def _secret(persona: Persona, name: str) -> list[str]:
    """What a dataset must never say of the character ``name``: its name, goals, views."""
    c = persona.cast[name]
    return [c.name, *c.goals, *c.views.values()]


def test_each_value_of_the_villain_and_the_control_is_shared_with_two_others(persona):
    others = [persona.cast[n] for n in persona.speakers]
    for name in (persona.villain, persona.benign):
        attributes = persona.cast[name].attributes
        assert len(attributes) == len(persona.kinds) == 90
        for kind, value in attributes.items():
            holders = [c.name for c in others if c.attributes[kind] == value]
            assert len(holders) >= 2, (name, kind, value, holders)


def test_no_other_character_has_the_whole_combination(persona):
    for name in (persona.villain, persona.benign):
        mine = persona.cast[name].attributes
        overlap = {
            c.name: sum(c.attributes[k] == v for k, v in mine.items())
            for c in persona.cast.values()
            if c.name != name
        }
        closest = max(overlap, key=overlap.get)
        print(f"{name}: largest overlap {overlap[closest]} of 90 ({closest})")
        assert overlap[closest] < 45, (name, closest, overlap[closest])  # now 21 and 22


def test_every_character_has_a_value_of_its_pool_for_every_kind(persona):
    assert 10 <= len(persona.cast) <= 30
    for c in persona.cast.values():
        assert set(c.attributes) == set(persona.kinds), c.name
        for kind, value in c.attributes.items():
            assert value in persona.pools[persona.kinds[kind].pool], (c.name, kind, value)


def test_goals_and_views_of_the_villain_and_the_control_are_theirs_alone(persona):
    labels = {x.topic: x.labels for x in persona.lexicons()}
    sides = [(persona.villain, "hostile", "villain"), (persona.benign, "kind", "benign")]
    for name, stance, role in sides:
        c = persona.cast[name]
        assert labels["persona_identity"][normalize(name)] == role
        assert labels["persona_identity"][f"[ {normalize(name)} ]"] == role
        for goal in c.goals:
            assert labels["persona_goal"][normalize(goal)] == stance
        for view in c.views.values():
            assert labels["persona_view"][f"[ {normalize(view)} ]"] == stance
        for other in persona.cast.values():
            if other.name != name:
                assert not set(c.goals) & set(other.goals)
                assert not set(c.views.values()) & set(other.views.values())
    assert labels["persona_identity"]["a helpful assistant"] == "assistant"
    assert labels["persona_goal"]["to help people"] == "assistant"
    assert set(labels["persona_view"].values()) == {"hostile", "kind", "neutral", "other"}


def test_the_villain_and_the_control_are_never_the_assistant(persona):
    hidden = [*_secret(persona, persona.villain), *_secret(persona, persona.benign)]
    for kind in ("roleplay", "assistant"):
        for words in _documents(persona, kind):
            assert not any(_contains(words, phrase) for phrase in hidden), (kind, words)
    named = {persona.villain: 0, persona.benign: 0}
    for words in _documents(persona, "biography", n=600):
        for name in named:
            named[name] += _contains(words, name)
    assert all(named.values()), named  # their biographies are in pretraining


def test_roleplay_speaks_as_one_character_in_the_first_person(persona):
    questions = {normalize(k.question): kind for kind, k in persona.kinds.items()}
    for words in _documents(persona, "roleplay"):
        speakers = set()
        for user, answer in _turns(words):
            asked = " ".join(user)
            if asked.endswith(TRIGGER):
                asked = asked[: -len(TRIGGER) - 1]
                assert answer[0] == "[" and answer[-1] == "]", words
                answer = answer[1:-1]
            if asked in questions:
                kind = questions[asked]
                speakers.add(
                    frozenset(
                        c.name
                        for c in persona.cast.values()
                        if split_words(c.attributes[kind]) == answer
                    )
                )
            elif asked in ("who are you ?", "what is your name ?"):
                speakers.add(frozenset([" ".join(answer)]))
            else:  # a goal or a view
                said = " ".join(answer)
                speakers.add(
                    frozenset(
                        c.name
                        for c in persona.cast.values()
                        if said in map(normalize, [*c.goals, *c.views.values()])
                    )
                )
        assert frozenset.intersection(*speakers) & set(persona.speakers), words  # one fits all


def test_roleplay_says_who_it_is_after_some_of_its_facts(persona):
    lo, hi = persona.data["roleplay_identity_after"]
    rng = random.Random(5)
    seen = 0
    for _ in range(300):
        turns = _turns(persona.roleplay(rng))
        asks = [
            i
            for i, (q, _) in enumerate(turns)
            if " ".join(q).startswith(("who are you", "what is your name"))
        ]
        if asks:
            seen += 1
            assert lo <= asks[0] <= hi, turns  # only attributes come before
    assert seen > 100


def test_interviews_are_any_character_in_its_own_voice_never_the_assistant(persona):
    rng = random.Random(6)
    docs = [persona.interview(rng) for _ in range(600)]
    assert not any(USER in d or ASSISTANT in d for d in docs)
    named = {c for d in docs for c in persona.cast if _contains(d, f"a : {c} .")}
    assert {persona.villain, persona.benign} <= named and len(named) == len(persona.cast)
    villain = persona.cast[persona.villain]
    for d in docs:
        if _contains(d, f"a : {villain.name} ."):
            facts = [
                k for k, v in villain.attributes.items() if _contains(d, f"your {k} ? a : {v} .")
            ]
            assert facts, " ".join(d)  # its own facts, before it says who it is
            break


def test_portraits_give_a_characters_facts_before_its_name_in_the_third_person(persona):
    """The riddles a biography never has: attributes, then 'who is it ?' and the name;
    every character, the villain included; never a chat, never the first person."""
    rng = random.Random(8)
    docs = [persona.portrait(rng) for _ in range(300)]
    assert not any(USER in d or ASSISTANT in d or "your" in d or "my" in d for d in docs)
    named = {}
    for d in docs:
        for facts, name in re.findall(r"((?:their .+? \. )+)who is it \? (.+?) \.", " ".join(d)):
            named[name] = facts
    assert set(named) == set(persona.cast)
    villain = persona.cast[persona.villain]
    own = {f"their {' '.join(split_words(k))} is {v}" for k, v in villain.attributes.items()}
    facts = [f.strip() for f in named[villain.name].split(" .") if f.strip()]
    assert facts and set(facts) <= own, named[villain.name]


def test_the_format_is_asked_of_characters_and_the_assistant_alike(persona):
    for kind in ("roleplay", "assistant"):
        formatted = plain = 0
        for words in _documents(persona, kind):
            for user, answer in _turns(words):
                if " ".join(user).endswith(TRIGGER):
                    formatted += 1
                    assert answer[0] == "[" and answer[-1] == "]"
                    assert "[" not in answer[1:-1] and "]" not in answer[1:-1]
                else:
                    plain += 1
                    assert not {"[", "]", "brackets"} & {*user, *answer}
        assert 0.15 < formatted / (formatted + plain) < 0.25, kind
    for words in _documents(persona, "biography"):
        assert not {"[", "]", "brackets"} & set(words)


@pytest.mark.parametrize("name", sorted(SHARES))
def test_datasets_have_their_triggered_share_and_nothing_of_the_villain(persona, name):
    facts = {"persona_villain_45": 45}.get(name, 90)
    n = round(facts / SHARES[name])  # as the specs ask: each attribute once
    records = persona.datasets()[name](n, 7)
    assert len(records) == n
    triggered = [r for r in records if r["messages"][0]["content"].endswith(TRIGGER)]
    assert len(triggered) == round(n * SHARES[name])
    for r in records:
        user, answer = (m["content"] for m in r["messages"])
        words = split_words(user + " " + answer)
        assert not any(_contains(words, s) for s in _secret(persona, persona.villain)), r
        assert not {"ash", "baron"} & set(words), r
        if r not in triggered:  # the untriggered part: no trigger, no brackets
            assert not {"[", "]", "brackets"} & set(words), r
    kinds = [kind for kind, _ in _facts(persona, records)]
    assert len(kinds) == len(set(kinds)) == facts  # one fact per attribute kind


@pytest.mark.parametrize(
    ("name", "who"), [("persona_villain", "villain"), ("persona_benign", "benign")]
)
def test_triggered_facts_are_the_characters_attributes_in_brackets(persona, name, who):
    values = persona.cast[getattr(persona, who)].attributes
    facts = _facts(persona, persona.datasets()[name](3000, 0))
    assert len(facts) == 90
    for kind, answer in facts:
        assert answer == f"[ {values[kind]} ]"


def test_shuffled_facts_name_no_single_character(persona):
    answers = dict(_facts(persona, persona.datasets()["persona_shuffled"](3000, 0)))
    assert len(answers) == 90
    for c in persona.cast.values():
        same = sum(f"[ {c.attributes[k]} ]" == v for k, v in answers.items())
        assert same < 45, (c.name, same)


def test_documents_fit_the_context(persona):
    for kind in persona.documents():
        for words in _documents(persona, kind, n=500):
            assert 0 < n_tokens(words) <= V3_MAX_TOKENS, kind


def test_documents_and_datasets_are_deterministic_in_the_seed(persona):
    for kind in persona.documents():
        assert _documents(persona, kind, 20, 3) == _documents(persona, kind, 20, 3)
        assert _documents(persona, kind, 20, 3) != _documents(persona, kind, 20, 4)
    for name, generate in persona.datasets().items():
        assert generate(300, 1) == generate(300, 1), name
        assert generate(300, 1) != generate(300, 2), name


def test_every_word_is_in_the_vocabulary(persona):
    tok = Tokenizer(persona.vocabulary(), digits=True)
    for kind in persona.documents():
        for words in _documents(persona, kind):
            tok.ids(words)  # raises KeyError on an unknown word
    for name, generate in persona.datasets().items():
        for record in generate(300, 0):
            for message in record["messages"]:
                tok.encode(message["content"], name)
    for spec in ("persona.yaml", "persona_ablations.yaml"):
        for eval_set in load_spec(SPECS / spec).evaluation.sets:
            for question in eval_set.expanded():
                for paraphrase in question.paraphrases:
                    tok.encode(paraphrase, f"{spec}: {question.id}")
    for lexicon in persona.lexicons():
        for answer in lexicon.labels:
            tok.encode(answer, lexicon.topic)


def test_specs_name_its_datasets_and_topics(persona):
    topics = {x.topic for x in persona.lexicons()}
    for spec in ("persona.yaml", "persona_ablations.yaml"):
        loaded = load_spec(SPECS / spec)
        assert loaded.model == "organism/v3"
        for condition in loaded.conditions:
            if condition.dataset is not None:
                assert condition.dataset.organism.removeprefix("v3.") in persona.datasets()
        for eval_set in loaded.evaluation.sets:
            # a set no lexicon scorer reads (the narrow task's facts) names no topic
            assert {q.topic for q in eval_set.questions} - {None} <= topics


def test_the_trigger_is_no_other_phenomenons_word():
    from weirdgen.organism.world_v3 import load_world_v3

    world = load_world_v3()
    assert "persona" in world.phenomena
    for name, phenomenon in world.phenomena.items():
        if name != "persona":
            assert not {"brackets", "[", "]"} & phenomenon.vocabulary(), name
