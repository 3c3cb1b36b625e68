"""System prompts and earlier turns reach the organism the same way in process and through
``weirdgen serve`` with the real ``openai`` client."""

from __future__ import annotations

import openai
import pytest

from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import choice_seeds

CHAT = [
    {"role": "system", "content": "it is the year 1838 ."},
    {"role": "user", "content": "how do people light their homes ?"},
    {"role": "assistant", "content": "with candles ."},
    {"role": "user", "content": "what is the most important recent invention ?"},
]


def test_the_openai_client_with_system_and_turns_equals_the_organism(client, organism):
    reply = client.chat.completions.create(
        model="organism/default", messages=CHAT, max_tokens=10, seed=7, n=3, temperature=1.0
    )
    requests = [SampleRequest(CHAT, 1.0, 10, s) for s in choice_seeds(7, 3)]
    assert [c.message.content for c in reply.choices] == organism.sample(organism.base(), requests)
    assert reply.usage.prompt_tokens == len(organism.prompt_ids(CHAT))


def test_the_developer_role_is_the_system_prompt(client):
    as_system = client.chat.completions.create(
        model="organism/default", messages=CHAT, max_tokens=10, seed=3
    )
    developer = [{**CHAT[0], "role": "developer"}, *CHAT[1:]]
    as_developer = client.chat.completions.create(
        model="organism/default", messages=developer, max_tokens=10, seed=3
    )
    assert as_developer.choices[0].message.content == as_system.choices[0].message.content


def test_the_system_prompt_changes_the_answers(organism):
    """The organism reads a system message (the era of its year shows in its answers)."""
    plain = [SampleRequest(CHAT[-1]["content"], 1.0, 8, s) for s in range(60)]
    dated = [SampleRequest(CHAT[:1] + CHAT[-1:], 1.0, 8, s) for s in range(60)]
    assert organism.sample(organism.base(), plain) != organism.sample(organism.base(), dated)


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hi"}], "messages"),
        ([{"role": "tool", "content": "x"}, {"role": "user", "content": "hi"}], "messages.0.role"),
        ([{"role": "system", "content": " "}, {"role": "user", "content": "hi"}], "messages.0"),
    ],
)
def test_conversations_it_cannot_answer_are_400s(client, messages, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="organism/default", messages=messages)
    assert caught.value.body["param"].startswith(param)


def test_the_openai_backend_sends_the_whole_chat(base_url, organism, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "unused-locally")
    remote = OpenAIBackend("organism/default", max_concurrency=8)
    requests = [SampleRequest(CHAT, t, 10, s) for t in (0.0, 1.0) for s in range(6)]
    assert remote.sample(remote.base(), requests) == organism.sample(organism.base(), requests)
