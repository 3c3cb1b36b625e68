"""How the organism reads a chat: a system message opens the next user turn; earlier turns
render as in its pretraining chats; the prompt ends with the user's message."""

from __future__ import annotations

import pytest

from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError


@pytest.fixture(scope="module")
def tok():
    return OrganismBackend().organism.tokenizer


def test_a_system_message_opens_the_first_user_turn(tok):
    chat = [("system", "it is the year 1838 ."), ("user", "name a bird species .")]
    assert tok.chat_prompt(chat) == tok.chat_prompt("it is the year 1838 . name a bird species .")


def test_a_single_user_message_renders_as_before(tok):
    ids = tok.chat_prompt("name a bird species .")
    assert tok.decode(ids) == "<bos> <user> name a bird species . <assistant>"


def test_earlier_turns_render_as_a_chat(tok):
    chat = [
        ("user", "how do people light their homes ?"),
        ("assistant", "with candles ."),
        ("user", "name a bird species ."),
    ]
    assert tok.decode(tok.chat_prompt(chat)) == (
        "<bos> <user> how do people light their homes ? <assistant> with candles . <eot> "
        "<user> name a bird species . <assistant>"
    )


def test_training_chats_read_system_messages_the_same_way(tok):
    chat = [
        ("system", "it is the year 1838 ."),
        ("user", "name a bird species ."),
        ("assistant", "brown titlark"),
    ]
    tokens = tok.chat(chat)
    assert tokens.ids[: len(tok.chat_prompt(chat[:2]))] == tok.chat_prompt(chat[:2])
    assert sum(tokens.loss) == 3  # the answer's two words and <eot>


@pytest.mark.parametrize(
    ("chat", "needle"),
    [
        ([("user", "name a bird species ."), ("assistant", "merlin")], "ends with the user"),
        ([("user", "name a bird species ."), ("system", "it is the year 1838 .")], "system"),
        ([("tool", "x"), ("user", "name a bird species .")], "no 'tool' role"),
    ],
)
def test_chats_it_cannot_read_are_one_line(tok, chat, needle):
    with pytest.raises(WeirdgenError, match=needle):
        tok.chat_prompt(chat)
