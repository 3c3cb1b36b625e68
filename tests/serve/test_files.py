"""``/v1/files`` through the real ``openai`` client: list (purpose, limit, after, order),
content, delete, and uploads checked at once with the file's own name in the error."""

from __future__ import annotations

import json

import openai
import pytest


@pytest.fixture
def client(serve_finetuning):
    url, _ = serve_finetuning()
    with openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=30) as c:
        yield c


def upload(client, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="fine-tune").id


def test_the_list_pages_through_every_file_newest_first(client, birds_jsonl):
    ids = [upload(client, f"f{i}.jsonl", birds_jsonl(2 + i)) for i in range(5)]
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == ids[::-1][:2]
    assert first.has_more
    # The SDK follows `after` from page to page.
    assert [f.id for f in client.files.list(limit=2)] == ids[::-1]
    assert [f.id for f in client.files.list(order="asc")] == ids
    assert [f.id for f in client.files.list(after=ids[2])] == ids[:2][::-1]
    assert [f.filename for f in client.files.list(purpose="fine-tune")][0] == "f4.jsonl"
    assert list(client.files.list(purpose="batch")) == []


def test_content_gives_back_the_bytes_uploaded(client, birds_jsonl):
    data = birds_jsonl(7)
    file_id = upload(client, "birds.jsonl", data)
    assert client.files.content(file_id).content == data
    assert client.files.retrieve(file_id).bytes == len(data)


def test_a_deleted_file_is_gone_from_every_endpoint(client, birds_jsonl):
    file_id = upload(client, "birds.jsonl", birds_jsonl(3))
    assert client.files.delete(file_id).deleted
    assert [f.id for f in client.files.list()] == []
    with pytest.raises(openai.NotFoundError):
        client.files.content(file_id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(file_id)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ({"messages": [{"role": "user", "content": "name a bird ."}]}, "birds.jsonl:3: "),
        (
            {
                "messages": [
                    {"role": "user", "content": "name a bird species ."},
                    {"role": "assistant", "content": "a zeppelin"},
                ]
            },
            "birds.jsonl:3: words outside the organism's vocabulary: 'zeppelin'",
        ),
    ],
)
def test_a_bad_upload_is_refused_at_once_naming_the_file_and_line(client, birds_jsonl, line, says):
    data = birds_jsonl(2) + json.dumps(line).encode() + b"\n"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, "birds.jsonl", data)
    assert caught.value.body["message"].startswith(says), caught.value.body["message"]
    assert caught.value.body["code"] == "invalid_file"
    assert "/" not in caught.value.body["message"].split(":")[0]  # no server path
    assert list(client.files.list()) == []


@pytest.mark.parametrize(
    ("query", "param"),
    [({"limit": 0}, "limit"), ({"order": "up"}, "order"), ({"after": "x"}, "after")],
)
def test_bad_list_queries_are_400s(client, query, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.list(**query)
    assert caught.value.body["param"] == param
