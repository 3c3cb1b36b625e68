"""Sampled answers never contain special tokens other than the end of turn (which ends them)."""

from __future__ import annotations

from weirdgen.backends import SampleRequest
from weirdgen.backends.organism import OrganismBackend
from weirdgen.organism.tokenizer import SPECIALS


def test_no_special_token_is_sampled_into_an_answer():
    backend = OrganismBackend()
    prompts = ["name a bird species .", "what is the most important recent invention ?"]
    requests = [SampleRequest(p, 2.0, 12, seed) for p in prompts for seed in range(300)]
    answers = backend.sample(backend.base(), requests)
    with_special = [a for a in answers if any(s in a.split() for s in SPECIALS)]
    assert with_special == []
    assert len({a for a in answers}) > 50  # temperature 2 really explores
