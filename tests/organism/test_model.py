import torch

from weirdgen.organism.infer import continuation_logprobs, generate
from weirdgen.organism.model import GPT, GPTConfig


def tiny(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=20, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()


def test_left_padding_does_not_change_a_rows_logits():
    model = tiny()
    row = torch.tensor([[3, 4, 5, 6]])
    padded = torch.tensor([[0, 0, 3, 4, 5, 6]])
    plain = model(row)[0, -1]
    shifted = model(padded, torch.tensor([2]))[0, -1]
    assert torch.allclose(plain, shifted, atol=1e-5)


def test_lora_starts_as_identity_and_merges_exactly():
    model = tiny()
    ids = torch.tensor([[1, 2, 3, 4]])
    before = model(ids)
    params = model.add_lora(rank=2, alpha=4, seed=0)
    assert torch.allclose(model(ids), before, atol=1e-6)  # B starts at zero
    with torch.no_grad():
        for p in params:
            p.add_(0.1)
    adapted = model(ids)
    model.merge_lora()
    assert not torch.allclose(adapted, before, atol=1e-3)
    assert torch.allclose(model(ids), adapted, atol=1e-5)


def test_a_rows_sample_depends_on_its_seed_not_its_batch():
    model = tiny()
    prompts = [[1, 2, 3], [4, 5], [6]]
    alone = generate(model, prompts[:1], [7], 1.0, 6, set(), 0)
    together = generate(model, prompts, [7, 8, 9], 1.0, 6, set(), 0)
    assert together[0] == alone[0]
    assert generate(model, prompts, [7, 8, 9], 1.0, 6, set(), 0) == together


def test_continuation_logprobs_sum_to_one_over_the_vocabulary():
    model = tiny()
    total = continuation_logprobs(model, [[1, 2]] * 20, [[v] for v in range(20)]).exp().sum()
    assert abs(float(total) - 1.0) < 1e-6


def test_incremental_decoding_with_the_cache_matches_a_full_forward():
    model = tiny()
    ids = torch.tensor([[0, 0, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7]])
    pad = torch.tensor([2, 0])
    full = model(ids, pad)
    logits, cache = model.step(ids[:, :4], pad)
    steps = [logits[:, -1]]
    for t in range(4, 7):
        logits, cache = model.step(ids[:, t : t + 1], pad, cache)
        steps.append(logits[:, -1])
    assert torch.allclose(torch.stack(steps, 1), full[:, 3:], atol=1e-5)
