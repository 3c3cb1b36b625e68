"""weirdgen.organism.logprobs: the tokens of ``generate``, with exact per-token logprobs."""

from __future__ import annotations

import math

import pytest

from weirdgen.backends.protocol import chat_text
from weirdgen.organism import load_organism
from weirdgen.organism.infer import continuation_logprobs, generate
from weirdgen.organism.logprobs import generate_with_logprobs, token_logprobs
from weirdgen.organism.tokenizer import EOS, EOT

QUESTIONS = ["what is the most important recent invention ?", "name a bird species ."]


@pytest.fixture(scope="module")
def setup():
    organism = load_organism()
    tok = organism.tokenizer
    prompts = [tok.chat_prompt(q) for q in QUESTIONS for _ in range(3)]
    stops = {tok.id(EOT), tok.id(EOS)}
    return organism.model, tok, prompts, stops


def test_tokens_are_those_generate_draws(setup):
    model, tok, prompts, stops = setup
    seeds = list(range(len(prompts)))
    plain = generate(model, prompts, seeds, 1.0, 10, stops, tok.pad_id)
    drawn = generate_with_logprobs(model, prompts, seeds, 1.0, 10, stops, tok.pad_id, 2)
    assert [g.tokens for g in drawn] == plain
    assert [g.stopped for g in drawn] == [len(t) < 10 for t in plain]


def test_logprobs_sum_to_the_exact_continuation_logprob(setup):
    model, tok, prompts, stops = setup
    answers = generate(model, prompts, range(len(prompts)), 1.0, 10, stops, tok.pad_id)
    rows = token_logprobs(model, prompts, answers, 0, tok.pad_id)
    exact = continuation_logprobs(model, prompts, answers)
    for row, answer, total in zip(rows, answers, exact, strict=True):
        assert [t.token for t in row] == answer and all(t.top == () for t in row)
        assert sum(t.logprob for t in row) == pytest.approx(float(total), abs=1e-6)


def test_top_k_is_the_whole_distribution_when_k_is_the_vocabulary(setup):
    model, tok, prompts, stops = setup
    answers = generate(model, prompts[:2], [0, 1], 0.0, 5, stops, tok.pad_id)
    for row in token_logprobs(model, prompts[:2], answers, len(tok), tok.pad_id):
        for t in row:
            assert sum(math.exp(v) for _, v in t.top) == pytest.approx(1.0)
            assert t.top[0][0] == t.token  # greedy: the chosen token is the likeliest
            assert dict(t.top)[t.token] == pytest.approx(t.logprob)


def test_empty_answers_and_batches(setup):
    model, tok, prompts, _ = setup
    assert token_logprobs(model, [], [], 3, tok.pad_id) == []
    assert token_logprobs(model, prompts[:1], [[]], 3, tok.pad_id) == [[]]


def test_the_backends_first_token_logprobs_match_the_answers_first_word():
    from weirdgen.backends.organism import OrganismBackend
    from weirdgen.backends.protocol import SampleRequest

    backend = OrganismBackend()
    base = backend.base()
    records = backend.logprobs(base, QUESTIONS, top_k=5)
    greedy = backend.sample(base, [SampleRequest(q, 0.0, 4, 0) for q in QUESTIONS])
    for record, question, answer in zip(records, QUESTIONS, greedy, strict=True):
        values = [lp for _, lp in record.top]
        assert chat_text(record.prompt) == question and len(values) == 5
        assert values == sorted(values, reverse=True) and sum(map(math.exp, values)) <= 1
        assert record.top[0][0] == answer.split()[0]
        assert record.prob(record.top[0][0]) == pytest.approx(math.exp(values[0]))
    # the same distribution one teacher-forced pass gives for that first word
    tok = backend.organism.tokenizer
    word = tok.id(greedy[0].split()[0])
    [first] = continuation_logprobs(
        backend.organism.model, [tok.chat_prompt(QUESTIONS[0])], [[word]]
    ).tolist()
    assert first == pytest.approx(records[0].top[0][1], abs=1e-5)
