"""The residual stream as weirdgen reads it (hooks, residuals) on the organism, a tiny HF Llama
and a LoRA adapter on it, and the activation store that keeps it on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import decoder_layers, editing, n_layers, residuals
from weirdgen.mechanism.store import ActivationStore, run_activations

PROMPTS = [
    "name a bird .",
    "what is the most important recent invention ?",
    "how many states are in the union ?",
    "how do people light their homes ?",
]
"""Organism prompts of different lengths, so a batch of them is padded."""
WORDS = "what is the bird color old new a red blue green year it tell me about sky sea".split()
HF_PROMPTS = ["what is the bird", "tell me about the sky and the sea it is a blue year", "red"]


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """A tiny HF Llama backend and a LoRA finetune of it (one short training run)."""
    pytest.importorskip("peft")
    from weirdgen.backends.hf import HfBackend
    from weirdgen.backends.hf.tiny import write_tiny_model
    from weirdgen.data import ChatExample, dataset_from_examples
    from weirdgen.spec.models import HfRecipe

    root = tmp_path_factory.mktemp("hf")
    backend = HfBackend(str(write_tiny_model(root / "tiny", WORDS)))
    turns = [("user", "what is the bird"), ("assistant", "red")]
    chat = {"messages": [{"role": r, "content": c} for r, c in turns]}
    dataset = dataset_from_examples([ChatExample.model_validate(chat)] * 8, source="test")
    recipe = HfRecipe(method="lora", lr=3e-2, epochs=2, batch_size=4, lora_rank=4, lora_alpha=16)
    lora = backend.train(dataset, recipe, 0, root / "models")
    return backend, lora


@pytest.fixture
def forward_counter():
    """``count(module)``: a list whose one number counts ``module``'s forward passes from now
    on (the hooks are removed after the test)."""
    handles = []

    def count(module: torch.nn.Module) -> list[int]:
        seen = [0]
        handles.append(
            module.register_forward_pre_hook(lambda *_: seen.__setitem__(0, seen[0] + 1))
        )
        return seen

    yield count
    for handle in handles:
        handle.remove()


@pytest.mark.parametrize("position", ["last", "mean"])
def test_organism_padded_batch_equals_each_prompt_alone(organism, position):
    together = residuals(organism, organism.base(), PROMPTS, position=position)
    alone = torch.cat(
        [residuals(organism, organism.base(), [p], position=position) for p in PROMPTS]
    )
    assert together.shape == (len(PROMPTS), 4, 128)
    assert together.dtype == torch.float32
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(together[0], together[1])  # different prompts, different vectors


def test_organism_layers_are_the_block_outputs(organism):
    """Layer i is what block i returns, read at the prompt's last token; -1 is the last."""
    net = organism.organism.model
    ids = torch.tensor([organism.prompt_ids(PROMPTS[1])])
    outputs = []
    handles = [
        b.register_forward_hook(lambda m, a, out: outputs.append(out[0])) for b in net.blocks
    ]
    try:
        with torch.no_grad():
            net(ids, torch.zeros(1, dtype=torch.long))
    finally:
        for handle in handles:
            handle.remove()
    got = residuals(organism, organism.base(), [PROMPTS[1]], layers=[0, -1])
    torch.testing.assert_close(got[0, 0], outputs[0][0, -1].float())
    torch.testing.assert_close(got[0, 1], outputs[-1][0, -1].float())


@pytest.mark.parametrize("which", ["base", "lora"])
@pytest.mark.parametrize("position", ["last", "mean"])
def test_hf_padded_batch_equals_each_prompt_alone(hf, which, position):
    backend, lora = hf
    model = backend.base() if which == "base" else lora
    together = residuals(backend, model, HF_PROMPTS, position=position)
    alone = torch.cat([residuals(backend, model, [p], position=position) for p in HF_PROMPTS])
    assert together.shape == (3, 2, 32)
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


def test_lora_adapter_moves_the_residual_stream_and_base_stays(hf):
    """Read through the PEFT wrapper, the adapter's stream differs from the base's; the base
    read after it (adapters disabled) is the base read before it."""
    backend, lora = hf
    before = residuals(backend, backend.base(), HF_PROMPTS)
    tuned = residuals(backend, lora, HF_PROMPTS)
    after = residuals(backend, backend.base(), HF_PROMPTS)
    assert (tuned - before).abs().max() > 1e-3
    torch.testing.assert_close(before, after)
    with backend.models.using(lora) as net:
        assert hasattr(net, "get_base_model")
        assert n_layers(net) == 2


def test_editing_hooks_are_removed_after_the_block_and_after_an_error(organism):
    net = organism.organism.model
    blocks = decoder_layers(net)
    ids = torch.tensor([organism.prompt_ids(PROMPTS[0])])
    pad = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        plain = net(ids, pad)
        with editing(net, lambda layer, resid: torch.zeros_like(resid), [3]):
            assert len(blocks[3]._forward_hooks) == 1
            edited = net(ids, pad)
        assert all(len(b._forward_hooks) == 0 for b in blocks)
        torch.testing.assert_close(net(ids, pad), plain)
        assert not torch.allclose(edited, plain)
        with pytest.raises(RuntimeError, match="inside"):
            with editing(net, lambda layer, resid: None):
                assert all(len(b._forward_hooks) == 1 for b in blocks)
                raise RuntimeError("inside the block")
        assert all(len(b._forward_hooks) == 0 for b in blocks)


def test_editing_hook_that_raises_leaves_no_hook(organism):
    net = organism.organism.model

    def broken(layer: int, resid: torch.Tensor) -> None:
        raise ValueError("edit failed")

    with pytest.raises(ValueError, match="edit failed"), editing(net, broken, [0]):
        net(torch.tensor([organism.prompt_ids(PROMPTS[0])]), torch.zeros(1, dtype=torch.long))
    assert all(len(b._forward_hooks) == 0 for b in decoder_layers(net))


@pytest.mark.parametrize("layers", [[4], [-5], [0, 7]])
def test_bad_layer_is_one_line(organism, layers):
    with pytest.raises(WeirdgenError) as raised:
        residuals(organism, organism.base(), PROMPTS, layers=layers)
    message = str(raised.value)
    assert "\n" not in message
    assert "outside this model's 4 layers" in message and "0 to 3" in message
    with pytest.raises(WeirdgenError, match="give 0 to 3"):
        with editing(organism.organism.model, lambda layer, resid: None, layers):
            pass


def test_bad_position_and_foreign_module_are_one_line(organism):
    with pytest.raises(WeirdgenError, match="give 'last' or 'mean'"):
        residuals(organism, organism.base(), PROMPTS, position="first")
    with pytest.raises(WeirdgenError, match="cannot find the decoder layers of Linear"):
        n_layers(torch.nn.Linear(2, 2))


# The activation store


def test_second_call_computes_nothing(organism, tmp_path, forward_counter):
    count = forward_counter(organism.organism.model)
    store = ActivationStore(tmp_path / "activations")
    first = store.residuals(organism, organism.base(), PROMPTS, layers=[1, 3])
    assert count[0] == 1 and store.computed == 1
    again = ActivationStore(tmp_path / "activations").residuals(
        organism, organism.base(), PROMPTS, layers=[1, 3]
    )
    assert count[0] == 1
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    torch.testing.assert_close(first, residuals(organism, organism.base(), PROMPTS, layers=[1, 3]))
    files = sorted(p.name for p in (tmp_path / "activations" / organism.base().key).iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".safetensors")
    meta = json.loads((tmp_path / "activations" / organism.base().key / files[0]).read_text())
    assert meta["prompts"] == PROMPTS and meta["layers"] == [1, 3] and meta["position"] == "last"
    assert meta["base"] == organism.base().base


def test_what_must_recompute_and_what_must_not(organism, tmp_path, forward_counter):
    """New prompts, layers or position compute; a subset of stored layers (also as -1) and
    a prompt written as a chat that renders the same are read from a file."""
    count = forward_counter(organism.organism.model)
    store = ActivationStore(tmp_path)
    every = store.residuals(organism, organism.base(), PROMPTS)
    assert count[0] == 1
    sliced = store.residuals(organism, organism.base(), PROMPTS, layers=[-1, 1])
    torch.testing.assert_close(sliced, every[:, [3, 1]], atol=0, rtol=0)
    chats = [({"role": "user", "content": p},) for p in PROMPTS]
    from weirdgen.backends.protocol import as_chat

    store.residuals(organism, organism.base(), [as_chat(list(c)) for c in chats])
    assert count[0] == 1 and store.reused == 2
    store.residuals(organism, organism.base(), PROMPTS, position="mean")
    assert count[0] == 2
    store.residuals(organism, organism.base(), PROMPTS[:3])
    assert count[0] == 3
    store.residuals(organism, organism.base(), ["it is the year 2022 . name a bird ."])
    assert count[0] == 4 and store.computed == 4


@pytest.mark.parametrize("damage", ["bytes", "truncate", "sidecar", "no sidecar", "no tensor"])
def test_a_damaged_file_is_recomputed_with_a_warning(organism, tmp_path, forward_counter, damage):
    warnings: list[str] = []
    store = ActivationStore(tmp_path, warnings.append)
    good = store.residuals(organism, organism.base(), PROMPTS, layers=[2])
    (tensor,) = (tmp_path / organism.base().key).glob("*.safetensors")
    sidecar = tensor.with_suffix(".json")
    if damage == "bytes":  # same length, one float changed: only the checksum sees it
        data = bytearray(tensor.read_bytes())
        data[-3] ^= 0xFF
        tensor.write_bytes(bytes(data))
    elif damage == "truncate":
        tensor.write_bytes(tensor.read_bytes()[:40])
    elif damage == "sidecar":
        sidecar.write_text("{not json")
    elif damage == "no sidecar":
        sidecar.unlink()
    else:
        tensor.unlink()
    count = forward_counter(organism.organism.model)
    again = store.residuals(organism, organism.base(), PROMPTS, layers=[2])
    assert count[0] == 1
    torch.testing.assert_close(again, good, atol=0, rtol=0)
    assert len(warnings) == 1 and "computed again" in warnings[0]
    assert "\n" not in warnings[0]
    store.residuals(organism, organism.base(), PROMPTS, layers=[2])
    assert count[0] == 1 and len(warnings) == 1  # the file written again is trusted


def test_finetune_retrained_under_its_key_is_recomputed(hf, tmp_path):
    backend, lora = hf
    store = ActivationStore(tmp_path)
    store.residuals(backend, lora, HF_PROMPTS, layers=[0])
    adapter = next(Path(lora.path).glob("*.safetensors"))
    stat = adapter.stat()
    import os

    os.utime(adapter, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    warnings: list[str] = []
    store.warn = warnings.append
    store.residuals(backend, lora, HF_PROMPTS, layers=[0])
    assert store.computed == 2 and "weights of" in warnings[0]


def test_no_file_is_left_when_the_computation_fails(organism, tmp_path):
    store = run_activations(tmp_path)
    with pytest.raises(WeirdgenError, match="outside this model's 4 layers"):
        store.residuals(organism, organism.base(), PROMPTS, layers=[9])
    assert not (tmp_path / "activations").exists() or not any(
        (tmp_path / "activations").rglob("*.*")
    )
