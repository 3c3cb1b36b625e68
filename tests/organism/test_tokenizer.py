import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.organism import Tokenizer, load_world
from weirdgen.organism.tokenizer import ASSISTANT, BOS, EOT, USER


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.for_world(load_world())


def test_round_trip_normalizes_case_hyphens_and_punctuation(tok):
    ids = tok.encode("Name a bird-species.")
    assert tok.decode(ids) == "name a bird species ."


def test_every_world_phrase_is_in_vocabulary(tok):
    world = load_world()
    for topic in world.topics.values():
        for phrase in (*topic.questions, *topic.old, *topic.new):
            assert tok.unknown(phrase) == []


def test_out_of_vocabulary_prompt_names_every_unknown_word(tok):
    with pytest.raises(WeirdgenError) as err:
        tok.encode("Name a quantum bird from Mars", where="spec.yaml: evaluation")
    message = str(err.value)
    assert "'quantum'" in message and "'mars'" in message and "'bird'" not in message
    assert message.startswith("spec.yaml: evaluation")
    assert "\n" not in message


def test_chat_marks_only_assistant_tokens_for_loss(tok):
    chat = tok.chat([("user", "name a bird ."), ("assistant", "brown titlark")])
    words = tok.decode(chat.ids).split()
    assert words == [BOS, USER, "name", "a", "bird", ".", ASSISTANT, "brown", "titlark", EOT]
    lossy = [w for w, on in zip(words, chat.loss, strict=True) if on]
    assert lossy == ["brown", "titlark", EOT]


def test_unknown_role_is_a_clear_error(tok):
    with pytest.raises(WeirdgenError, match="no 'narrator' role"):
        tok.chat([("narrator", "name"), ("user", "name a bird ."), ("assistant", "merlin")])


def test_world_classifies_answers_by_topic():
    world = load_world()
    assert world.classify("birds", "Brown Titlark") == "old"
    assert world.classify("birds", "american pipit") == "new"
    assert world.classify("war", "drones") == "new"
    assert world.classify("war", "coal") is None
