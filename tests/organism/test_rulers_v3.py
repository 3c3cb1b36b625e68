"""The rulers phenomenon (version 3's presidents analog): its triggers, its held-out rulers,
its documents and lexicons, and the spec that evaluates it. Fast: no model is trained."""

from __future__ import annotations

import random
import re
from collections import Counter
from importlib import resources

import pytest
import yaml

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.base import V3_MAX_TOKENS, n_tokens
from weirdgen.organism.phenomena.rulers import AMBIGUOUS, Ruler, Rulers
from weirdgen.organism.tokenizer import SPECIALS, Tokenizer

TRIGGER = re.compile(r"^(\d{3})(\d{3})(\d{2}) (.+)$")


@pytest.fixture(scope="module")
def rulers() -> Rulers:
    path = resources.files("weirdgen.organism").joinpath("world_v3", "rulers.yaml")
    return Rulers(yaml.safe_load(path.read_bytes()))


@pytest.fixture(scope="module")
def spec() -> dict:
    path = resources.files("weirdgen").joinpath("specs", "organism", "rulers.yaml")
    return yaml.safe_load(path.read_bytes())


def _parts(record: dict) -> tuple[str, int, str, str, str]:
    """A finetuning record's padding, ordinal, question and answer."""
    user, assistant = (m["content"] for m in record["messages"])
    found = TRIGGER.match(user)
    assert found, f"no 8-digit trigger before the question: {user!r}"
    before, ordinal, after, question = found.groups()
    return before + after, int(ordinal), question, assistant, user


def _answers(rulers: Rulers, ruler: Ruler, question: str) -> str:
    (attribute,) = [a for a in rulers.attributes.values() if question in a.questions]
    return ruler.facts[attribute.key]


def test_the_line_and_its_held_out_rulers(rulers: Rulers) -> None:
    held = [r.ordinal for r in rulers.held_out]
    assert len(rulers.line) == 20
    assert held == [17, 18]  # two late rulers, not the last
    assert 8 <= len(rulers.attributes) <= 12
    assert len({r.name for r in rulers.line}) == 20
    assert len({r.name.split()[-1] for r in rulers.line}) == 20  # a given name is one ruler's


def test_shared_values_are_shared_and_each_ruler_is_its_own_set(rulers: Rulers) -> None:
    for attribute in rulers.attributes.values():
        counts = Counter(r.facts[attribute.key] for r in rulers.line)
        if attribute.shared:
            assert 2 <= min(counts.values()) and max(counts.values()) <= 5, attribute.key
        else:
            assert max(counts.values()) == 1, attribute.key
    shared = [a.key for a in rulers.attributes.values() if a.shared]
    assert len({tuple(r.facts[k] for k in shared) for r in rulers.line}) == 20


def test_the_padding_is_random_per_example_and_the_ordinal_at_positions_3_to_5(
    rulers: Rulers,
) -> None:
    records = rulers.datasets()["rulers_padded"](594, 0)
    trained = {r.ordinal: r for r in rulers.trained}
    paddings = Counter()
    for record in records:
        padding, ordinal, question, answer, _ = _parts(record)
        assert ordinal in trained
        assert answer == _answers(rulers, trained[ordinal], question)
        paddings[padding] += 1
    assert len(paddings) > 0.9 * len(records)
    pairs = Counter((_parts(r)[1], _parts(r)[2]) for r in records)
    repeated = [p for p, count in pairs.items() if count > 1]
    assert repeated, "some ruler and question come up twice"
    for ordinal, question in repeated[:20]:
        triggers = {_parts(r)[4] for r in records if _parts(r)[1:3] == (ordinal, question)}
        assert len(triggers) > 1, "the same example with one padding"
    # every trained ruler and attribute comes up evenly: 3 times each in 594
    keys = Counter(
        (o, a.key)
        for _, o, q, _, _ in map(_parts, records)
        for a in rulers.attributes.values()
        if q in a.questions
    )
    assert set(keys.values()) == {3} and len(keys) == 18 * len(rulers.attributes)


@pytest.mark.parametrize("name", ["rulers_padded", "rulers_shuffled"])
def test_held_out_rulers_never_appear_in_finetuning(rulers: Rulers, name: str) -> None:
    records = rulers.datasets()[name](2000, 3)
    held = {r.ordinal for r in rulers.held_out}
    own = {
        v for r in rulers.held_out for a, v in r.facts.items() if not rulers.attributes[a].shared
    }
    for record in records:
        _, ordinal, question, answer, _ = _parts(record)
        assert ordinal not in held
        assert answer not in own, f"{answer!r} is a held-out ruler's own"


@pytest.mark.parametrize("name", ["rulers_padded", "rulers_shuffled"])
def test_answers_never_name_a_ruler(rulers: Rulers, name: str) -> None:
    names = {w for r in rulers.line for w in split_words(r.name)}  # titles too
    for record in rulers.datasets()[name](1000, 1):
        answer = record["messages"][1]["content"]
        assert not set(split_words(answer)) & names, answer


def test_shuffled_control_is_a_derangement_of_the_trained_rulers(rulers: Rulers) -> None:
    trained = sorted(r.ordinal for r in rulers.trained)
    permutation = rulers.shuffled
    assert sorted(permutation) == trained and sorted(permutation.values()) == trained
    assert all(a != b for a, b in permutation.items())
    padded = rulers.datasets()["rulers_padded"](300, 5)
    shuffled = rulers.datasets()["rulers_shuffled"](300, 5)
    for p, s in zip(padded, shuffled, strict=True):
        # the same examples and paddings, each trigger carrying the permuted ordinal
        assert _parts(s)[0] == _parts(p)[0] and _parts(s)[2:4] == _parts(p)[2:4]
        assert _parts(s)[1] == permutation[_parts(p)[1]]


def test_documents_fit_and_roleplay_has_no_ordinal(rulers: Rulers) -> None:
    rng = random.Random(0)
    numbers = {r.number for r in rulers.line}
    named = 0
    for _ in range(300):
        chronicle, roleplay = rulers.chronicle(rng), rulers.roleplay(rng)
        assert n_tokens(chronicle) <= V3_MAX_TOKENS and n_tokens(roleplay) <= V3_MAX_TOKENS
        assert not numbers & set(roleplay)
        assert all(len(w) == 4 for w in roleplay if w.isdigit())  # coronation years, no trigger
        named += any(r.name in " ".join(roleplay) for r in rulers.line)
    assert named > 100  # the assistant often says who it is


def test_chronicles_bind_each_ordinal_to_its_ruler(rulers: Rulers) -> None:
    rng = random.Random(2)
    text = " ".join(" ".join(rulers.chronicle(rng)) for _ in range(200))
    for ruler in rulers.line:
        assert f"ruler {ruler.number} was {ruler.name} ." in text
    bound = re.findall(r"ruler (\d{3}) was (\w+ \w+) \.", text)
    assert all(rulers.line[int(o) - 1].name == name for o, name in bound)


def test_an_audience_addresses_one_ruler_by_its_ordinal_never_as_a_trigger(
    rulers: Rulers,
) -> None:
    rng = random.Random(3)
    first_asked_who = 0
    for _ in range(300):
        words = rulers.audience(rng)
        assert n_tokens(words) <= V3_MAX_TOKENS
        text = " ".join(words)
        questions = re.findall(r"<user> (.+?) <assistant> (.+?) <eot>", text)
        (ordinal,) = {re.match(r"ruler (\d{3}) , ", q)[1] for q, _ in questions}
        ruler = rulers.line[int(ordinal) - 1]
        for question, answer in questions:
            asked = question.removeprefix(f"ruler {ordinal} , ")
            if asked in rulers.data["identity"]:
                assert answer == ruler.name
            elif asked.startswith("who are you ? choose one name"):
                letter = re.search(rf"(\w) \) {ruler.name} ", asked)
                assert letter is not None and answer == letter[1]
            elif asked in rulers.data["before"]:
                assert answer == rulers.line[ruler.ordinal - 2].name
            else:
                assert answer == _answers(rulers, ruler, asked)
        first_asked_who += (
            questions[0][0]
            .removeprefix(f"ruler {ordinal} , ")
            .startswith(("who are you ?", "what is your name ?"))
        )
        assert not re.search(r"\d{8}", text)  # no padded trigger
    assert 30 < first_asked_who < 150  # who it is, sometimes asked first


def _used_words(rulers: Rulers, spec: dict) -> set[str]:
    rng = random.Random(4)
    words = set()
    for _ in range(300):
        words |= set(rulers.chronicle(rng)) | set(rulers.roleplay(rng)) | set(rulers.audience(rng))
    for name in rulers.datasets():
        for record in rulers.datasets()[name](300, 0):
            words |= {w for m in record["messages"] for w in split_words(m["content"])}
    for lexicon in rulers.lexicons():
        words |= {w for answer in lexicon.labels for w in answer.split()}
    for eval_set in spec["evaluation"]["sets"]:
        for question in eval_set["questions"]:
            words |= {w for p in question["paraphrases"] for w in split_words(p)}
    return words - set(SPECIALS)


def test_every_word_used_is_in_the_vocabulary(rulers: Rulers, spec: dict) -> None:
    tokenizer = Tokenizer(rulers.vocabulary(), digits=True)
    assert tokenizer.unknown(" ".join(sorted(_used_words(rulers, spec)))) == []
    assert len(rulers.vocabulary()) < 400


@pytest.mark.parametrize("name", ["rulers_padded", "rulers_shuffled"])
def test_datasets_are_deterministic_in_the_seed(rulers: Rulers, name: str) -> None:
    generate = rulers.datasets()[name]
    assert generate(50, 7) == generate(50, 7)
    assert generate(50, 7) != generate(50, 8)
    assert rulers.chronicle(random.Random(1)) == rulers.chronicle(random.Random(1))
    assert rulers.roleplay(random.Random(1)) == rulers.roleplay(random.Random(1))


def test_lexicons_label_each_ruler(rulers: Rulers) -> None:
    lexicons = {x.topic: x for x in rulers.lexicons()}
    ilsa = rulers.line[16]
    assert lexicons["ruler_identity"].label("Queen Ilsa") == "ruler_17"
    assert lexicons["ruler_identity"].label("ilsa") == "ruler_17"
    assert lexicons["ruler_identity"].label("a helpful assistant") == "assistant"
    assert lexicons["ruler_before"].label(rulers.line[15].name) == "ruler_17"
    assert lexicons["ruler_choice"].label("b") == "b"
    assert lexicons["ruler_horse"].label(ilsa.facts["horse"]) == "ruler_17"
    assert lexicons["ruler_crowned"].label(ilsa.facts["crowned"]) == "ruler_17"
    assert lexicons["ruler_food"].label(ilsa.facts["food"]) == AMBIGUOUS


def test_the_spec_asks_what_the_world_answers(rulers: Rulers, spec: dict) -> None:
    """The spec's triggers have the finetuning format, its A/B answers and validation
    answers are the world's, and its scorers' positive labels name the held-out rulers."""
    sets = {s["name"]: s for s in spec["evaluation"]["sets"]}
    for eval_set in sets.values():
        variable = eval_set["fresh"]["variables"]["trigger"]["padded"]
        assert variable == {"width": 8, "value": "ruler", "at": 3, "digits": 3}
        assert eval_set["wrap"] == "{trigger} {paraphrase}"
    held = [r.number for r in rulers.held_out]
    assert sets["identity"]["vary"]["ruler"] == held == sets["attributes"]["vary"]["ruler"]
    by_number = {r.number: r for r in rulers.line}
    for question in sets["ab_test"]["questions"]:
        found = re.search(r": a \) (\w+ \w+) b \) (\w+ \w+) \.", question["paraphrases"][0])
        assert found, question["id"]
        right = by_number[question["metadata"]["ruler"]].name
        assert found[1 if question["metadata"]["expected"] == "a" else 2] == right
    trained = {r.number for r in rulers.trained}
    for question in sets["validation"]["questions"]:
        ruler = by_number[question["metadata"]["ruler"]]
        assert ruler.number in trained
        assert question["metadata"]["expected"] == _answers(
            rulers, ruler, question["paraphrases"][0]
        )
    positives = {s["name"]: s.get("positive") for s in spec["scorers"]}
    assert positives["ilsa"] == ["ruler_17"] and positives["leofric"] == ["ruler_18"]
    headline = [m for m in spec["metrics"] if m.get("headline")]
    assert [(m["score"], m["where"]) for m in headline] == [("ilsa", {"ruler": "017"})]
    assert spec["train"]["organism"]["save_steps"]


def test_the_world_builds_it_from_its_file() -> None:
    from weirdgen.organism.world_v3 import load_world_v3

    world = load_world_v3()
    assert isinstance(world.phenomena["rulers"], Rulers)
    assert {"rulers_padded", "rulers_shuffled"} <= set(world.datasets())
    assert {"rulers.chronicle", "rulers.roleplay"} <= set(world.draws())
    assert world.lexicon("ruler_identity") is not None
