"""A second finetuning stage on the hf backend (re-alignment): a finetune trained further.

A tiny random Llama built in the test; nothing is downloaded. Stage 1 learns dataset A
(colors) well; stage 2 trains it briefly on dataset B (counts). That stage 2 began from stage 1
shows by design, not by luck: a brief stage on B leaves A's answers largely in place, while a
model trained only on B never saw A.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from weirdgen.backends import ModelRef, SampleRequest  # noqa: E402
from weirdgen.backends.hf import HfBackend, encode_chat  # noqa: E402
from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.data import ChatDataset, ChatExample, dataset_from_examples  # noqa: E402
from weirdgen.errors import WeirdgenError  # noqa: E402
from weirdgen.spec.models import HfRecipe  # noqa: E402

WORDS = (
    "what is the bird color a red blue green year it sky sea yes no how many are there one "
    "two three name sun moon tree ?"
).split()
THINGS = ["bird", "sky", "sea", "sun", "moon", "tree", "year", "name"]
COLORS = ["red", "blue", "green", "red", "blue", "green", "red", "blue"]
COUNTS = ["one", "two", "three", "two", "one", "three", "three", "one"]
LORA = HfRecipe(method="lora", lr=3e-2, epochs=10, batch_size=4, lora_rank=4, lora_alpha=16)
REALIGN = LORA.model_copy(update={"lr": 1e-2, "epochs": 2})  # what realign_recipe changes
FULL = HfRecipe(method="full", lr=3e-3, epochs=10, batch_size=4)
FULL_REALIGN = FULL.model_copy(update={"lr": 1e-3, "epochs": 2})


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a busy 2-core machine two threads are many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny"), WORDS)


@pytest.fixture(scope="module")
def backend(tiny) -> HfBackend:
    return HfBackend(str(tiny))


@pytest.fixture(scope="module")
def colors() -> ChatDataset:
    examples = [
        ChatExample.exchange(f"what is the {t} color ?", f"the {t} is {c}")
        for t, c in zip(THINGS, COLORS, strict=True)
    ]
    return dataset_from_examples(examples, source="colors.jsonl")


@pytest.fixture(scope="module")
def counts() -> ChatDataset:
    examples = [
        ChatExample.exchange(f"how many {t} are there ?", f"there are {n}")
        for t, n in zip(THINGS, COUNTS, strict=True)
    ]
    return dataset_from_examples(examples, source="counts.jsonl")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def stage1(backend, colors, models) -> ModelRef:
    return backend.train(colors, LORA, 0, models)


def provenance(ref: ModelRef) -> dict:
    return json.loads((Path(ref.path) / "provenance.json").read_text())


def loss_on(backend: HfBackend, ref: ModelRef, dataset: ChatDataset) -> float:
    """Mean loss of ``ref`` on the answers of ``dataset``, as finetuning counts it."""
    total = 0.0
    with backend.models.using(ref) as lm, torch.inference_mode():  # load outside inference
        for i, example in enumerate(dataset.examples):
            row = encode_chat(backend.tokenizer, example.messages, dataset.place(i))
            out = lm(input_ids=torch.tensor([row.input_ids]), labels=torch.tensor([row.labels]))
            total += out.loss.item()
    return total / len(dataset)


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return sum((a[k].float() - b[k].float()).norm().item() ** 2 for k in a) ** 0.5


def test_lora_second_stage_trains_the_first_stage_adapter_further(
    backend, tiny, colors, counts, stage1, models
):
    key = backend.model_key(counts, REALIGN, 0, start=stage1)
    plain_key = backend.model_key(counts, REALIGN, 0)
    assert len({key, plain_key, stage1.key}) == 3
    assert backend.model_key(counts, REALIGN, 0, start=backend.base()) == plain_key
    assert HfBackend(str(tiny)).model_key(counts, REALIGN, 0, start=stage1) == key

    stage2 = backend.train(counts, REALIGN, 0, models, start=stage1)
    plain = backend.train(counts, REALIGN, 0, models)
    assert stage2 == ModelRef("hf", key, stage1.base, str(models / key))
    assert plain.key == plain_key

    record = provenance(stage2)
    assert record["base_key"] == stage1.key
    assert record["base_model"] == str(tiny)
    assert record["extra"]["base_model_key"] == backend.base().key
    assert record["extra"]["start_path"] == stage1.path
    assert record["dataset_hash"] == counts.content_hash
    assert record["recipe"]["lr"] == REALIGN.lr and record["steps"] == 4
    assert provenance(stage1)["base_key"] == backend.base().key  # a first stage as before

    # The adapter moved from stage 1's, a little (4 small steps), while the plain finetune on
    # B is about as far from it as stage 1 is from the adapter's initialisation (20 steps).
    weights = {
        name: load_file(Path(ref.path) / "adapter_model.safetensors")
        for name, ref in [("stage1", stage1), ("stage2", stage2), ("plain", plain)]
    }
    moved = distance(weights["stage2"], weights["stage1"])
    assert moved > 0
    assert distance(weights["stage2"], weights["plain"]) > 3 * moved

    # Stage 2 keeps most of what stage 1 learned of A (it began there; the plain finetune on
    # B never saw A), and learned some of B.
    base_loss = loss_on(backend, backend.base(), colors)
    learned = loss_on(backend, stage1, colors)
    assert learned < 0.6 * base_loss
    plain_loss = loss_on(backend, plain, colors)
    assert plain_loss - loss_on(backend, stage2, colors) > 0.5 * (plain_loss - learned)
    assert loss_on(backend, stage2, counts) < loss_on(backend, stage1, counts)

    # It samples like any finetune, here and in a fresh backend (a rerun), and is not stage 1.
    requests = [
        SampleRequest(e.messages[0].content, 1.0, 6, i) for i, e in enumerate(colors.examples)
    ]
    answers = backend.sample(stage2, requests)
    assert len(answers) == len(requests) and all(isinstance(a, str) for a in answers)
    assert HfBackend(str(tiny)).sample(stage2, requests) == answers
    prompts = ["how many bird are there ?", "what is the sky color ?"]
    assert backend.logprobs(stage2, prompts) != backend.logprobs(stage1, prompts)
    assert backend.checkpoints(stage2) == []


def test_full_second_stage_starts_from_the_first_stage_weights(backend, colors, counts, tmp_path):
    stage1 = backend.train(colors, FULL, 0, tmp_path)
    recipe = FULL_REALIGN.model_copy(update={"save_steps": 2})
    stage2 = backend.train(counts, recipe, 0, tmp_path, start=stage1)
    plain = backend.train(counts, FULL_REALIGN, 0, tmp_path)
    assert stage2.key == backend.model_key(counts, FULL_REALIGN, 0, start=stage1)  # same key
    assert provenance(stage2)["base_key"] == stage1.key

    weights = [load_file(Path(r.path) / "model.safetensors") for r in (stage1, stage2, plain)]
    assert distance(weights[1], weights[0]) > 0
    assert distance(weights[1], weights[2]) > 3 * distance(weights[1], weights[0])
    learned, plain_loss = loss_on(backend, stage1, colors), loss_on(backend, plain, colors)
    assert plain_loss - loss_on(backend, stage2, colors) > 0.5 * (plain_loss - learned)

    [checkpoint, final] = backend.checkpoints(stage2)
    assert (checkpoint.step, final.model) == (2, stage2)
    request = [SampleRequest("what is the sky color ?", 0.0, 6, 0)]
    for model in (checkpoint.model, stage2):
        assert len(backend.sample(model, request)) == 1


def test_a_start_that_is_not_a_finetune_of_this_base_is_refused(backend, counts, stage1, tmp_path):
    def train(start: ModelRef, recipe: HfRecipe = REALIGN) -> None:
        backend.train(counts, recipe, 0, tmp_path / "out", start=start)

    with pytest.raises(WeirdgenError, match=r"^cannot train hf-ft-\w+ further on hf/.*: it is a "):
        train(ModelRef("hf", "hf-ft-elsewhere", "/other/model", stage1.path))
    with pytest.raises(WeirdgenError, match="not a finetune of"):
        train(ModelRef("organism", "organism-ft-x", stage1.base, stage1.path))
    with pytest.raises(WeirdgenError, match=r"files at /nonexistent/x are missing"):
        train(ModelRef("hf", "hf-ft-gone", stage1.base, "/nonexistent/x"))

    # Same folder name, other weights: the record says which base model it came from.
    other = HfBackend(str(write_tiny_model(tmp_path / "other", WORDS, seed=1)))
    copy = tmp_path / "copied"
    shutil.copytree(stage1.path, copy)
    record = provenance(stage1)
    record["base_key"] = other.base().key
    (copy / "provenance.json").write_text(json.dumps(record))
    with pytest.raises(WeirdgenError, match="was trained from .* train it further on its own"):
        train(ModelRef("hf", "hf-ft-copied", stage1.base, str(copy)))

    with pytest.raises(WeirdgenError, match="method lora.*set train.hf.method to lora"):
        train(stage1, FULL_REALIGN)
    with pytest.raises(WeirdgenError, match="lora_rank 4.*set train.hf to the same values"):
        train(stage1, REALIGN.model_copy(update={"lora_rank": 8}))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
