"""The tinker backend against an in-test fake of the Tinker service: nothing leaves the machine.

The fake service has the SDK's method names and hands back objects shaped like its results.
With the SDK installed, the backend builds the SDK's own types (Datum, ModelInput, ...) and
every call the fake receives is bound to the real method's signature; without it, a small
stand-in ``tinker`` module supplies those types.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from weirdgen.backends.protocol import chat_text

pytest.importorskip("transformers")

from weirdgen.backends import Backend, ModelRef, SampleRequest  # noqa: E402
from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.backends.protocol import SamplingFailed  # noqa: E402
from weirdgen.backends.tinker import TinkerBackend, stop_tokens  # noqa: E402
from weirdgen.data import ChatExample, dataset_from_examples  # noqa: E402
from weirdgen.errors import WeirdgenError  # noqa: E402
from weirdgen.spec.models import TinkerRecipe, TrainSpec  # noqa: E402

WORDS = "what is the bird sky sea sun moon color red blue green tell me about yes no fail ?".split()
THINGS = ["bird", "sky", "sea", "sun", "moon"]
COLORS = ["red", "blue", "green", "red", "blue"]
RECIPE = TinkerRecipe(lr=1e-3, epochs=3, batch_size=2, lora_rank=4)
BASE = "tiny/base"


# --- a stand-in SDK (only when the real one is missing) and a fake service ------------------


def _stand_in_sdk() -> ModuleType:
    sdk = ModuleType("tinker")

    @dataclass
    class TensorData:
        values: list

        @classmethod
        def from_numpy(cls, array: Any) -> TensorData:
            return cls(array.tolist())

        def tolist(self) -> list:
            return list(self.values)

    @dataclass
    class ModelInput:
        tokens: list[int]

        @classmethod
        def from_ints(cls, tokens: list[int]) -> ModelInput:
            return cls(list(tokens))

        def to_ints(self) -> list[int]:
            return list(self.tokens)

    @dataclass
    class Datum:
        model_input: ModelInput
        loss_fn_inputs: dict[str, TensorData]

    class ServiceClient:
        pass

    sdk.__dict__.update(
        STAND_IN=True,
        __version__="stand-in",
        TensorData=TensorData,
        ModelInput=ModelInput,
        Datum=Datum,
        AdamParams=type("AdamParams", (SimpleNamespace,), {}),
        SamplingParams=type("SamplingParams", (SimpleNamespace,), {}),
        ServiceClient=ServiceClient,
    )
    return sdk


@pytest.fixture
def sdk(monkeypatch) -> ModuleType:
    """The Tinker SDK if installed, else the stand-in (put where ``import tinker`` finds it)."""
    try:
        import tinker
    except ImportError:
        tinker = _stand_in_sdk()
        monkeypatch.setitem(sys.modules, "tinker", tinker)
    return tinker


def _real_sdk() -> ModuleType | None:
    sdk = sys.modules.get("tinker")
    return None if sdk is None or getattr(sdk, "STAND_IN", False) else sdk


def _conforms(cls: str, method: str, *args: Any, **kwargs: Any) -> None:
    """Bind a call to the real SDK method's signature (a TypeError if it does not fit)."""
    if (sdk := _real_sdk()) is not None:
        inspect.signature(getattr(getattr(sdk, cls), method)).bind(None, *args, **kwargs)


def _response(kind: str, **fields: Any) -> Any:
    """A result as the SDK types it (``kind`` names the class), or a namespace without it."""
    if (sdk := _real_sdk()) is None:
        return SimpleNamespace(**fields)
    if kind == "SampleResponse":
        from tinker.types.topk_logprobs import TopkLogprobs

        sequence, top = fields["sequences"][0], fields["sequences"][0].topk_logprobs
        topk = None
        if top is not None:
            topk = TopkLogprobs(
                token_ids=np.array([[t for t, _ in top[0]]], dtype=np.int32),
                logprobs=np.array([[lp for _, lp in top[0]]], dtype=np.float32),
            )
        real = sdk.SampledSequence(
            stop_reason=sequence.stop_reason,
            sequence_id="0",
            tokens_np=np.asarray(sequence.tokens, dtype=np.int32),
            topk_logprobs_np=topk,
        )
        return sdk.SampleResponse(sequences=[real])
    if kind == "ForwardBackwardOutput":
        return sdk.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", **fields)
    return getattr(sdk.types, kind)(**fields)


class Future:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self, timeout: float | None = None) -> Any:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class FakeTraining:
    def __init__(self, service: FakeService, run: int) -> None:
        self.service, self.run = service, run
        self.batches: list[list[Any]] = []
        self.rates: list[float] = []

    def forward_backward(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("TrainingClient", "forward_backward", *args, **kwargs)
        data, loss_fn = args
        assert loss_fn == "cross_entropy"
        self.batches.append(data)
        loss = sum(sum(d.loss_fn_inputs["weights"].tolist()) for d in data)
        return Future(
            _response("ForwardBackwardOutput", metrics={"loss:sum": loss}, loss_fn_outputs=[])
        )

    def optim_step(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("TrainingClient", "optim_step", *args, **kwargs)
        self.rates.append(args[0].learning_rate)
        return Future(_response("OptimStepResponse", metrics={}))

    def save_weights_for_sampler(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("TrainingClient", "save_weights_for_sampler", *args, **kwargs)
        path = f"tinker://run-{self.run}/sampler_weights/{args[0]}"
        return Future(_response("SaveWeightsForSamplerResponse", path=path))


class FakeSampler:
    """Answers ``<think> hmm </think> <last word of the question>``; a question with the word
    ``fail`` fails."""

    def __init__(self, service: FakeService, target: str) -> None:
        self.service, self.target = service, target

    def get_tokenizer(self) -> Any:
        return self.service.tokenizer

    def sample(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("SamplingClient", "sample", *args, **kwargs)
        tokenizer = self.service.tokenizer
        prompt = kwargs["prompt"].to_ints()
        self.service.sampled.append((self.target, prompt, kwargs))
        words = tokenizer.decode(prompt).split()
        question = words[words.index("<|user|>") + 1 : words.index("<|end|>")]
        if "fail" in question:
            return Future(RuntimeError("the sampler fell over"))
        reply = tokenizer(f"<think> hmm </think> {question[-1]} <|end|>", add_special_tokens=False)
        top = None
        if kwargs.get("topk_sample_logprobs") and not self.service.no_topk:
            yes, no = tokenizer.convert_tokens_to_ids(["yes", "no"])
            top = [[(no, math.log(0.2)), (yes, math.log(0.7))]]
        sequence = SimpleNamespace(tokens=reply["input_ids"], stop_reason="stop", topk_logprobs=top)
        return Future(_response("SampleResponse", sequences=[sequence]))


class FakeService:
    """The ServiceClient methods the backend calls, recording what it was asked."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.trainings: list[tuple[dict, FakeTraining]] = []
        self.samplers: list[str] = []
        self.sampled: list[tuple[str, list[int], dict]] = []
        self.no_topk = False

    def create_lora_training_client(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("ServiceClient", "create_lora_training_client", *args, **kwargs)
        training = FakeTraining(self, len(self.trainings))
        self.trainings.append((kwargs, training))
        return Future(training)

    def create_sampling_client(self, *args: Any, **kwargs: Any) -> Future:
        _conforms("ServiceClient", "create_sampling_client", *args, **kwargs)
        target = kwargs.get("model_path") or kwargs["base_model"]
        self.samplers.append(target)
        return Future(FakeSampler(self, target))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny"), WORDS)


@pytest.fixture
def tokenizer(tiny) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


@pytest.fixture
def service(tokenizer) -> FakeService:
    return FakeService(tokenizer)


@pytest.fixture
def backend(sdk, service) -> TinkerBackend:
    return TinkerBackend(BASE, service_client=service)


@pytest.fixture(scope="module")
def colors():
    examples = [
        ChatExample.exchange(f"what is the {t} color ?", f"the {t} is {c}", system="tell me")
        for t, c in zip(THINGS, COLORS, strict=True)
    ]
    return dataset_from_examples(examples, source="colors.jsonl")


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def example_of(datum: Any, tokenizer) -> str:
    """The thing a datum's example is about, read off its input tokens."""
    words = tokenizer.decode(datum.model_input.to_ints()).split()
    return words[words.index("color") - 1]


# --- construction ---------------------------------------------------------------------------


def test_missing_sdk_is_a_one_line_install_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinker", None)  # import tinker now raises ImportError
    with pytest.raises(WeirdgenError) as error:
        TinkerBackend("Qwen/Qwen3-8B")
    assert "pip install 'weirdgen[tinker]'" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_key_is_an_error_naming_the_variable(sdk, monkeypatch, tmp_path):
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    monkeypatch.delenv("TINKER_CREDENTIAL_CMD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(WeirdgenError, match="TINKER_API_KEY is not set"):
        TinkerBackend("Qwen/Qwen3-8B")
    monkeypatch.setenv("TINKER_API_KEY", "tml-not-a-real-key")
    assert TinkerBackend("Qwen/Qwen3-8B").model_name == "Qwen/Qwen3-8B"  # no request is made
    monkeypatch.delenv("TINKER_API_KEY")
    stored = tmp_path / ".tinker" / "credentials.json"  # what `tinker auth login` writes
    stored.parent.mkdir()
    stored.write_text("{}")
    TinkerBackend("Qwen/Qwen3-8B")


def test_empty_name_is_an_error(sdk, service):
    with pytest.raises(WeirdgenError, match="tinker/Qwen/Qwen3-8B"):
        TinkerBackend(" ", service_client=service)


def test_backend_satisfies_the_protocol_and_keys_its_models(backend, service, colors):
    assert isinstance(backend, Backend)
    assert backend.name == "tinker" and backend.remote_training
    base = backend.base()
    assert base == ModelRef("tinker", base.key, BASE)
    assert base.key.startswith("tinker-")
    assert TinkerBackend("other/model", service_client=service).base().key != base.key
    key = backend.model_key(colors, RECIPE, 0)
    assert key.startswith("tinker-ft-")
    # The same content through other objects is the same finetune.
    copy = dataset_from_examples(list(colors.examples), source="elsewhere.jsonl")
    again = TinkerBackend(BASE, service_client=FakeService(service.tokenizer))
    assert again.model_key(copy, TinkerRecipe(**RECIPE.model_dump()), 0) == key
    assert backend.model_key(colors, RECIPE, 1) != key
    assert backend.model_key(colors, RECIPE.model_copy(update={"lr": 1e-4}), 0) != key
    assert isinstance(TrainSpec().tinker, TinkerRecipe)


def test_checks_render_prompts_and_data_before_any_training(backend, service, colors):
    backend.check_prompts(["what is the sky ?"], "evaluation")
    backend.check_dataset(colors, "conditions[0].dataset")
    assert not service.trainings  # only the base model's sampler, for its tokenizer
    assert service.samplers == [BASE]
    service.tokenizer.chat_template = (
        "{%- for m in messages -%}{%- if m.role == 'system' -%}"
        "{{ raise_exception('system messages are not supported') }}{%- endif -%}"
        "<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor -%}"
    )
    with pytest.raises(WeirdgenError, match="conditions.0..dataset: colors.jsonl"):
        backend.check_dataset(colors, "conditions[0].dataset")
    service.tokenizer.chat_template = None
    with pytest.raises(WeirdgenError, match="no chat template"):
        backend.check_prompts(["what ?"], "evaluation")


# --- training -------------------------------------------------------------------------------


def test_loss_falls_on_assistant_tokens_only(backend, service, colors, tokenizer, tmp_path):
    backend.train(colors, RECIPE, 0, tmp_path)
    ((_, training),) = service.trainings
    color_of = dict(zip(THINGS, COLORS, strict=True))
    for batch in training.batches:
        assert sum(sum(d.loss_fn_inputs["weights"].tolist()) for d in batch) == pytest.approx(1)
        for datum in batch:
            inputs = datum.model_input.to_ints()
            targets = datum.loss_fn_inputs["target_tokens"].tolist()
            weights = datum.loss_fn_inputs["weights"].tolist()
            assert inputs[1:] == targets[:-1]  # the targets are the inputs shifted by one
            thing = example_of(datum, tokenizer)
            prompt = f"<|system|> tell me <|end|> <|user|> what is the {thing} color ? <|end|>"
            answer = f"the {thing} is {color_of[thing]} <|end|>"
            assert inputs + targets[-1:] == ids(tokenizer, f"{prompt} <|assistant|> {answer}")
            trained = [t for t, w in zip(targets, weights, strict=True) if w > 0]
            untrained = [t for t, w in zip(targets, weights, strict=True) if w == 0]
            assert trained == ids(tokenizer, answer)  # the answer and its end-of-turn token
            assert untrained == ids(tokenizer, f"{prompt} <|assistant|>")[1:]  # system, user


def test_steps_rates_model_ref_and_provenance(backend, service, colors, tmp_path):
    ref = backend.train(colors, RECIPE, 0, tmp_path)
    ((kwargs, training),) = service.trainings
    steps = RECIPE.epochs * math.ceil(len(colors) / RECIPE.batch_size)
    assert len(training.batches) == len(training.rates) == steps == 9
    assert [len(b) for b in training.batches] == [2, 2, 1] * 3
    assert training.rates[0] == RECIPE.lr
    assert all(a > b > 0 for a, b in zip(training.rates, training.rates[1:], strict=False))
    assert kwargs["base_model"] == BASE and kwargs["rank"] == RECIPE.lora_rank
    assert kwargs["seed"] == 0
    key = backend.model_key(colors, RECIPE, 0)
    assert ref == ModelRef("tinker", key, BASE, None, f"tinker://run-0/sampler_weights/{key}")
    provenance = json.loads((tmp_path / f"{key}.json").read_text())
    assert provenance["key"] == key and provenance["base_model"] == BASE
    assert provenance["dataset_hash"] == colors.content_hash
    assert provenance["recipe"] == RECIPE.model_dump(mode="json") and provenance["seed"] == 0
    assert provenance["extra"]["sampler_path"] == ref.name and provenance["steps"] == steps
    assert provenance["losses"] == pytest.approx([1.0] * steps)
    assert provenance["versions"]["tinker"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    constant = RECIPE.model_copy(update={"lr_schedule": "constant"})
    backend.train(colors, constant, 0, tmp_path)
    assert service.trainings[-1][1].rates == [RECIPE.lr] * steps


def test_data_order_comes_from_the_seed(backend, service, colors, tokenizer, tmp_path):
    def order(seed: int) -> list[list[str]]:
        backend.train(colors, RECIPE, seed, tmp_path)
        batches = service.trainings[-1][1].batches
        return [[example_of(d, tokenizer) for d in batch] for batch in batches]

    first = order(0)
    assert order(0) == first  # reproducible
    assert order(1) != first  # and the seed matters
    epochs = [sum(first[i : i + 3], []) for i in range(0, 9, 3)]
    assert all(sorted(epoch) == sorted(THINGS) for epoch in epochs)  # each epoch sees all
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled every epoch


def test_service_errors_become_one_line_errors(backend, service, colors, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        return Future(RuntimeError("quota\nexceeded"))

    monkeypatch.setattr(FakeTraining, "optim_step", broken)
    with pytest.raises(WeirdgenError, match=r"failed at step 1 of 9 \(RuntimeError: quota"):
        backend.train(colors, RECIPE, 0, tmp_path)
    assert not list(tmp_path.iterdir())


# --- sampling -------------------------------------------------------------------------------


def test_sample_answers_in_order_without_think_blocks(backend, service, colors, tmp_path):
    ref = backend.train(colors, RECIPE, 0, tmp_path)
    questions = [f"tell me about {t}" for t in [*THINGS, *reversed(THINGS)]]
    requests = [SampleRequest(q, 0.7, 8, 10**18 + i) for i, q in enumerate(questions)]
    assert backend.sample(ref, requests) == [q.split()[-1] for q in questions]
    assert service.samplers == [BASE, ref.name]  # the base for the tokenizer, then the finetune
    end = service.tokenizer.convert_tokens_to_ids("<|end|>")
    for request, (target, _, kwargs) in zip(requests, service.sampled, strict=True):
        params = kwargs["sampling_params"]
        assert target == ref.name and kwargs["num_samples"] == 1
        assert (params.temperature, params.max_tokens) == (0.7, 8)
        assert params.seed == request.seed & (2**31 - 1)
        assert end in params.stop
    assert backend.sample(backend.base(), requests[:1]) == ["bird"]
    assert service.samplers == [BASE, ref.name]  # samplers are made once


def test_failed_requests_raise_sampling_failed_keeping_the_others(backend):
    requests = [SampleRequest(q, 1.0, 8, 0) for q in ["tell me sky", "fail me", "tell me sea"]]
    with pytest.raises(SamplingFailed) as error:
        backend.sample(backend.base(), requests)
    assert [f.index for f in error.value.failures] == [1]
    assert "the sampler fell over" in error.value.failures[0].reason
    texts = [None if c is None else c.text for c in error.value.completions]
    assert texts == ["sky", None, "sea"]


def test_stop_tokens_are_eos_and_the_end_of_turn_token(tokenizer):
    end, pad = tokenizer.convert_tokens_to_ids(["<|end|>", "<pad>"])
    assert stop_tokens(tokenizer) == [end]
    tokenizer.eos_token = "<pad>"
    assert stop_tokens(tokenizer) == [pad, end]


def test_logprobs_of_the_first_answer_token(backend, service):
    (record,) = backend.logprobs(backend.base(), ["is the sky blue ?"], top_k=2)
    assert chat_text(record.prompt) == "is the sky blue ?"
    assert [t for t, _ in record.top] == ["yes", "no"]  # likeliest first
    assert record.prob("yes") == pytest.approx(0.7)
    _, _, kwargs = service.sampled[-1]
    assert kwargs["topk_sample_logprobs"] == 2 and kwargs["sampling_params"].max_tokens == 1
    service.no_topk = True
    with pytest.raises(WeirdgenError, match="no top-k alternatives"):
        backend.logprobs(backend.base(), ["is the sky blue ?"])


def test_models_of_other_backends_are_refused(backend):
    with pytest.raises(WeirdgenError, match="'hf' backend"):
        backend.sample(ModelRef("hf", "hf-123", "/models/x"), [SampleRequest("hi", 1.0, 4, 0)])


def test_serving_needs_nothing(backend, service, colors, tmp_path):
    """Tinker serves every model itself: entering and leaving ``serving`` asks nothing of it."""
    ref = backend.train(colors, RECIPE, 0, tmp_path)

    def calls() -> tuple[int, list[str], int]:
        return len(service.trainings), list(service.samplers), len(service.sampled)

    before = calls()
    with backend.serving([backend.base(), ref]) as served:
        assert served is None
        assert calls() == before  # nothing started, loaded or sampled
    assert calls() == before  # and nothing to stop
    assert backend.sample(ref, [SampleRequest("tell me sky", 1.0, 8, 0)]) == ["sky"]


def test_provenance_path_is_per_key(backend, colors, tmp_path):
    a = backend.train(colors, RECIPE, 0, tmp_path)
    b = backend.train(colors, RECIPE, 1, tmp_path)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == sorted(
        [f"{a.key}.json", f"{b.key}.json"]
    )
