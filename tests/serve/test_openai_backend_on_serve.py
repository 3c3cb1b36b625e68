"""The ``openai`` backend pointed at ``weirdgen serve`` samples exactly what the organism
backend samples in process: the served organism is a drop-in stand-in for a remote model."""

from __future__ import annotations

from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import SampleRequest

QUESTIONS = ["what is the most important recent invention ?", "name a bird species ."]


def test_openai_backend_on_serve_equals_the_organism_in_process(base_url, organism, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "unused-locally")
    remote = OpenAIBackend("organism/default", max_concurrency=16)
    requests = [
        SampleRequest(q, t, 10, 1000 * i + s)
        for i, q in enumerate(QUESTIONS)
        for t in (0.0, 1.0)
        for s in range(8)
    ]
    assert remote.sample(remote.base(), requests) == organism.sample(organism.base(), requests)
    completions = remote.complete(remote.base(), requests[:3], top_logprobs=2)
    for c in completions:
        assert "".join(t.token for t in c.logprobs) == c.text
        assert all(len(t.top) == 2 for t in c.logprobs)
    assert remote.usage.requests == len(requests) + 3
