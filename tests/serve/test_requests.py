"""Chat requests the server must turn down with a 4xx naming the parameter, never a 500, and
replies that are always strict JSON (no bare NaN or Infinity)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Sequence

import aiohttp
import pytest

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import Completion, TokenLogprob, serve_in_background
from weirdgen.serve.engine import Prepared

QUESTION = "what is the most important recent invention ?"
GOOD = {"model": "organism/default", "messages": [{"role": "user", "content": QUESTION}]}


def post(base_url: str, path: str, data: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(base_url + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, strict_json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, strict_json(error.read())


def strict_json(data: bytes) -> dict:
    """JSON as RFC 8259 has it: NaN, Infinity and -Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"the server wrote {constant}, which is not JSON")

    return json.loads(data, parse_constant=refuse)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"n": "3"}, "n"),
        ({"n": True}, "n"),
        ({"n": 2.0}, "n"),
        ({"n": 129}, "n"),
        ({"logprobs": "true"}, "logprobs"),
        ({"logprobs": 1}, "logprobs"),
        ({"logprobs": True, "top_logprobs": "2"}, "top_logprobs"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"max_completion_tokens": False}, "max_completion_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"seed": "1"}, "seed"),
        ({"model": ["organism/default"]}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ],
)
def test_values_of_the_wrong_type_are_400s_naming_the_parameter(base_url, changes, param):
    status, body = post(base_url, "/chat/completions", json.dumps({**GOOD, **changes}).encode())
    assert status == 400, body
    assert body["error"]["param"] == param, body
    assert body["error"]["type"] == "invalid_request_error"
    assert param in body["error"]["message"]


def test_numbers_where_numbers_belong_are_taken(base_url):
    body = {**GOOD, "temperature": 1, "n": 2, "max_tokens": 4, "seed": 3, "logprobs": False}
    status, reply = post(base_url, "/chat/completions", json.dumps(body).encode())
    assert status == 200 and len(reply["choices"]) == 2


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"{" + b'"a":' * 50_000 + b"1" + b"}" * 50_000, "not valid JSON"),
        (json.dumps({**GOOD, "model": [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]] * 30}).encode(), "model"),
        (b"[1, 2]", "not a JSON array"),
        (b'"hello"', "not a JSON string"),
        (b"3", "not a JSON number"),
        (b"null", "not a JSON null"),
        (b'{"temperature": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bodies_that_are_not_one_json_object_are_400s(base_url, data, words):
    status, body = post(base_url, "/chat/completions", data)
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    if words:
        assert words in body["error"]["message"]


def test_a_body_over_the_size_limit_is_a_413(serve_finetuning):
    url, _ = serve_finetuning()  # the upload limit (50 MB) is not the JSON body limit (1 MB)
    huge = json.dumps({**GOOD, "padding": "x" * 2 * 1024**2}).encode()
    status, body = post(url, "/chat/completions", huge)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, body = post(url, "/fine_tuning/jobs", huge)
    assert status == 413 and body["error"]["code"] == "request_too_large"


class StubEngine:
    """Answers with the logprobs of a model that gives some tokens probability 0, or NaN."""

    def model_ids(self) -> list[str]:
        return ["stub"]

    def fingerprint(self, model: str) -> str:
        return "stub-0"

    def prepare(self, model: str, prompt, max_tokens: int | None) -> Prepared:
        return Prepared(1, max_tokens or 2)

    def complete(
        self, model: str, requests: Sequence[SampleRequest], top_logprobs: int | None
    ) -> list[Completion]:
        inf, nan = float("inf"), float("nan")
        tokens = (
            TokenLogprob("a", -inf, (("a", -inf), ("b", nan))),
            TokenLogprob(" b", nan, (("c", -1e6), ("d", -0.5))),
        )
        return [Completion("a b", 1, 2, "stop", tokens) for _ in requests]


def test_replies_are_strict_json_even_for_logprobs_that_are_not_finite():
    with serve_in_background(StubEngine()) as url:
        body = {**GOOD, "model": "stub", "logprobs": True, "top_logprobs": 2}
        status, reply = post(url, "/chat/completions", json.dumps(body).encode())
    assert status == 200
    first, second = reply["choices"][0]["logprobs"]["content"]
    assert first["logprob"] == -9999.0  # OpenAI's value for a token of probability 0
    assert [t["logprob"] for t in first["top_logprobs"]] == [-9999.0, None]
    assert second["logprob"] is None  # NaN: no number is the right answer
    assert [t["logprob"] for t in second["top_logprobs"]] == [-9999.0, -0.5]


class SlowEngine(StubEngine):
    def complete(self, model, requests, top_logprobs):
        import time

        time.sleep(0.5)
        return [Completion("a", 1, 1, "stop") for _ in requests]


def test_a_flood_past_the_queue_limit_gets_503s_not_an_endless_queue():
    async def flood(url: str) -> list[int]:
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                body = {**GOOD, "model": "stub", "n": 4}
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    await response.read()
                    return response.status

            return list(await asyncio.gather(*(one() for _ in range(10))))

    with serve_in_background(SlowEngine(), window=0.2, max_batch=1, max_queued=8) as url:
        statuses = asyncio.run(flood(url))
    assert statuses.count(200) >= 2 and set(statuses) == {200, 503}
