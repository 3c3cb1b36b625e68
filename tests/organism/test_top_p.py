"""Nucleus (top_p) sampling in the organism's sampler: the nucleus is the most likely tokens
whose mass first reaches top_p, and sampling never leaves it. Distributions are built by hand
away from any rounding boundary, and model checks compare with the model's own argmax."""

from __future__ import annotations

import pytest
import torch

from weirdgen.backends.organism import OrganismBackend
from weirdgen.organism.infer import generate, nucleus
from weirdgen.organism.tokenizer import EOS, EOT, SPECIALS


def test_the_nucleus_keeps_the_most_likely_tokens_until_their_mass_reaches_top_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    kept = nucleus(probs, 0.7)
    assert kept[0].tolist() == [0.0, 0.5, 0.0, 0.3]  # 0.5 < 0.7, so 0.3 joins; 0.8 >= 0.7
    assert (kept[1] > 0).tolist() == [True, True, True, False]  # ties by token id
    assert nucleus(probs, 0.4)[0].tolist() == [0.0, 0.5, 0.0, 0.0]  # the top token alone
    assert nucleus(probs, 1e-9).count_nonzero(-1).tolist() == [1, 1]


def _sample(top_p: float, temperature: float = 1.0, seeds=range(40)):
    backend = OrganismBackend()
    tok = backend.organism.tokenizer
    prompt = backend.prompt_ids([{"role": "user", "content": "name a bird species ."}])
    return generate(
        backend.model(backend.base()),
        [prompt] * len(seeds),
        list(seeds),
        temperature,
        6,
        {tok.id(EOT), tok.id(EOS)},
        tok.pad_id,
        top_p=top_p,
    )


def test_a_tiny_top_p_samples_the_argmax_and_top_p_one_is_the_plain_sampler():
    greedy = _sample(1.0, temperature=0, seeds=[0])[0]
    assert all(answer == greedy for answer in _sample(1e-9))
    plain = _sample(1.0)
    assert len({tuple(a) for a in plain}) > 1  # temperature 1 explores
    assert _sample(1.0) == plain  # seeded: the same draws


def test_sampled_tokens_stay_in_the_nucleus_of_their_step():
    backend = OrganismBackend()
    model = backend.model(backend.base())
    tok = backend.organism.tokenizer
    prompt = backend.prompt_ids([{"role": "user", "content": "name a bird species ."}])
    with torch.no_grad():  # the first step as generate takes it: one distinct prompt
        logits, _ = model.step(torch.tensor([prompt]), torch.tensor([0]))
    logits = logits[0, -1].double()
    stops = {tok.id(EOT), tok.id(EOS)}
    logits[[i for i in range(len(SPECIALS)) if i not in stops]] = -torch.inf
    allowed = nucleus(torch.softmax(logits, -1)[None], 0.5)[0] > 0
    answers = _sample(0.5, seeds=range(60))
    for answer in answers:
        assert not answer or allowed[answer[0]], tok.itos[answer[0]]
    assert 0 < int(allowed.sum()) < int(torch.isfinite(logits).sum())  # it restricts


def test_top_p_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="top_p"):
        _sample(0.0)
