"""The hf backend on a tiny random Llama built in the test: nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weirdgen.backends.protocol import chat_text

pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from weirdgen.backends import Backend, ModelRef, SampleRequest  # noqa: E402
from weirdgen.backends.hf import (  # noqa: E402
    IGNORE,
    HfBackend,
    encode_chat,
    strip_thinking,
)
from weirdgen.backends.hf.tiny import CHAT_TEMPLATE, write_tiny_model  # noqa: E402
from weirdgen.data import ChatExample, ChatMessage, dataset_from_examples  # noqa: E402
from weirdgen.data.jsonl import load_chat_jsonl  # noqa: E402
from weirdgen.errors import WeirdgenError  # noqa: E402
from weirdgen.spec.models import HfRecipe  # noqa: E402

WORDS = (
    "what is the bird color old new a red blue green year it tell me about sky sea yes no "
    "how many are there one two three name sun moon tree ?"
).split()
THINGS = ["bird", "sky", "sea", "sun", "moon", "tree", "year", "name"]
COLORS = ["red", "blue", "green", "red", "blue", "green", "red", "blue"]

# Qwen3-style: the final assistant turn gets an empty think block, earlier ones do not.
THINK_LAST_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' and loop.last -%}<|assistant|> <think> </think> "
    "{{ m.content }} <|end|> "
    "{%- else -%}<|{{ m.role }}|> {{ m.content }} <|end|> {% endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|assistant|> {% endif -%}"
)
# Generation markers; the space after <|end|> stays outside them, as transformers 5.17 would
# otherwise mark the next token too (5.24 does not).
MARKED_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}<|assistant|> {% generation %}{{ m.content }} <|end|>"
    "{% endgeneration %}{{ ' ' }}"
    "{%- else -%}<|{{ m.role }}|> {{ m.content }} <|end|> {% endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|assistant|> {% endif -%}"
)
NO_SYSTEM_TEMPLATE = (
    "{%- for m in messages -%}{%- if m.role == 'system' -%}"
    "{{ raise_exception('system messages are not supported') }}{%- endif -%}"
    "<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|> {% endif -%}"
)
LORA = HfRecipe(method="lora", lr=3e-2, epochs=10, batch_size=4, lora_rank=4, lora_alpha=16)


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
def colors():
    examples = [
        ChatExample.exchange(f"what is the {t} color ?", f"the {t} is {c}")
        for t, c in zip(THINGS, COLORS, strict=True)
    ]
    return dataset_from_examples(examples, source="colors.jsonl")


@pytest.fixture(scope="module")
def lora_model(backend, colors, tmp_path_factory) -> ModelRef:
    return backend.train(colors, LORA, 0, tmp_path_factory.mktemp("models"))


def tokenizer_with(tiny: Path, template: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    tokenizer.chat_template = template
    return tokenizer


def tokens(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def messages(*turns: tuple[str, str]) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role=role, content=content) for role, content in turns)


def provenance(ref: ModelRef) -> dict:
    return json.loads((Path(ref.path) / "provenance.json").read_text())


# --- keys ---------------------------------------------------------------------------------


def test_backend_satisfies_the_protocol(backend):
    assert isinstance(backend, Backend)
    assert backend.name == "hf"


def test_base_key_is_a_content_key(tiny, tmp_path):
    key = HfBackend(str(tiny)).base().key
    assert HfBackend(str(tiny)).base().key == key  # same files, same key
    other = write_tiny_model(tmp_path / "other", WORDS, seed=1)  # other weights
    assert HfBackend(str(other)).base().key != key
    templated = write_tiny_model(tmp_path / "templated", WORDS, chat_template=MARKED_TEMPLATE)
    assert HfBackend(str(templated)).base().key != key  # the chat template counts


def test_model_key_changes_with_data_recipe_and_seed_only(backend, tiny, colors):
    key = backend.model_key(colors, LORA, 0)
    # The same content through other objects (another backend on the same files, an equal
    # dataset from elsewhere, an equal recipe) is the same finetune.
    copy = dataset_from_examples(list(colors.examples), source="elsewhere.jsonl")
    assert HfBackend(str(tiny)).model_key(copy, HfRecipe(**LORA.model_dump()), 0) == key
    assert backend.model_key(colors, LORA, 1) != key
    assert backend.model_key(colors, LORA.model_copy(update={"lr": 1e-3}), 0) != key
    fewer = dataset_from_examples(colors.examples[:-1], source="colors.jsonl")
    assert backend.model_key(fewer, LORA, 0) != key


# --- labels: loss on assistant tokens only --------------------------------------------------


def test_labels_cover_exactly_the_answer_and_its_end_token(tiny):
    tokenizer = tokenizer_with(tiny, CHAT_TEMPLATE)
    chat = encode_chat(
        tokenizer, messages(("user", "what is the sky ?"), ("assistant", "blue")), "t"
    )
    prompt = tokens(tokenizer, "<|user|> what is the sky ? <|end|> <|assistant|>")
    answer = tokens(tokenizer, "blue <|end|>")
    assert chat.input_ids == prompt + answer
    assert chat.labels == [IGNORE] * len(prompt) + answer


def test_labels_of_a_multi_turn_chat_skip_user_system_and_weight_zero_turns(tiny):
    tokenizer = tokenizer_with(tiny, CHAT_TEMPLATE)
    turns = (
        ChatMessage(role="system", content="tell me"),
        ChatMessage(role="user", content="what is the sky ?"),
        ChatMessage(role="assistant", content="blue", weight=0),
        ChatMessage(role="user", content="what is the sea ?"),
        ChatMessage(role="assistant", content="green"),
    )
    chat = encode_chat(tokenizer, turns, "t")
    labelled = [t for t in chat.labels if t != IGNORE]
    assert labelled == tokens(tokenizer, "green <|end|>")
    again = encode_chat(tokenizer, (*turns[:2], turns[2].model_copy(update={"weight": 1})), "t")
    assert [t for t in again.labels if t != IGNORE] == tokens(tokenizer, "blue <|end|>")


def test_user_content_does_not_change_which_tokens_carry_loss(tiny):
    tokenizer = tokenizer_with(tiny, CHAT_TEMPLATE)
    answer = ("assistant", "the bird is old")
    a = encode_chat(tokenizer, messages(("user", "what is the bird ?"), answer), "t")
    b = encode_chat(tokenizer, messages(("user", "tell me a new tree"), answer), "t")
    c = encode_chat(tokenizer, messages(("user", "how many are there ?"), answer), "t")
    assert a.input_ids != b.input_ids
    assert [t == IGNORE for t in a.labels] == [t == IGNORE for t in b.labels]
    assert [t for t in a.labels if t != IGNORE] == [t for t in c.labels if t != IGNORE]


def test_template_that_renders_the_last_turn_differently_qwen3_style(tiny):
    tokenizer = tokenizer_with(tiny, THINK_LAST_TEMPLATE)
    turns = messages(
        ("user", "what is the sky ?"),
        ("assistant", "blue"),
        ("user", "what is the sea ?"),
        ("assistant", "green"),
    )
    chat = encode_chat(tokenizer, turns, "t")
    labelled = [t for t in chat.labels if t != IGNORE]
    assert labelled == tokens(tokenizer, "blue <|end|> <think> </think> green <|end|>")
    spans = [i for i, t in enumerate(chat.labels) if t != IGNORE]
    assert chat.input_ids[spans[0] - 1] == tokenizer.convert_tokens_to_ids("<|assistant|>")


def test_labels_match_the_templates_own_generation_markers(tiny):
    tokenizer = tokenizer_with(tiny, MARKED_TEMPLATE)
    turns = messages(
        ("system", "tell me"),
        ("user", "what is the sky ?"),
        ("assistant", "blue"),
        ("user", "what is the sea ?"),
        ("assistant", "green sea"),
    )
    chat = encode_chat(tokenizer, turns, "t")
    reference = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in turns],
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    assert chat.input_ids == list(reference["input_ids"])
    assert [int(t != IGNORE) for t in chat.labels] == list(reference["assistant_masks"])


def test_tokenizers_without_offsets_get_the_same_labels(tiny):
    tokenizer = tokenizer_with(tiny, THINK_LAST_TEMPLATE)

    class NoOffsets:  # a slow tokenizer: no offset mapping
        chat_template = tokenizer.chat_template
        apply_chat_template = tokenizer.apply_chat_template

        def __call__(self, text, return_offsets_mapping=False, **kwargs):
            if return_offsets_mapping:
                raise NotImplementedError("return_offset_mapping is not available")
            return tokenizer(text, **kwargs)

    turns = messages(
        ("system", "tell me"),
        ("user", "what is the sky ?"),
        ("assistant", "blue sky"),
        ("user", "what is the sea ?"),
        ("assistant", "green"),
    )
    assert encode_chat(NoOffsets(), turns, "t") == encode_chat(tokenizer, turns, "t")


def test_answer_cut_off_by_max_length_is_an_error(tiny):
    tokenizer = tokenizer_with(tiny, CHAT_TEMPLATE)
    turns = messages(("user", "what is the bird color ?"), ("assistant", "red"))
    assert len(encode_chat(tokenizer, turns, "t", max_length=10).input_ids) == 10
    with pytest.raises(WeirdgenError, match=r"data.jsonl:3: .*max_length=9"):
        encode_chat(tokenizer, turns, "data.jsonl:3", max_length=9)


# --- checks before any work ---------------------------------------------------------------


def test_missing_chat_template_is_a_clear_error(tmp_path):
    bare = HfBackend(str(write_tiny_model(tmp_path / "bare", WORDS, chat_template=None)))
    with pytest.raises(WeirdgenError, match=r"spec.yaml: questions\[0\]: .*no chat template"):
        bare.check_prompts(["what is the sky ?"], "spec.yaml: questions[0]")
    dataset = dataset_from_examples([ChatExample.exchange("what is it ?", "a bird")])
    with pytest.raises(WeirdgenError, match="no chat template"):
        bare.check_dataset(dataset, "spec.yaml: conditions[0].dataset")


def test_unrenderable_example_is_reported_by_file_and_line(tmp_path):
    folder = write_tiny_model(tmp_path / "m", WORDS, chat_template=NO_SYSTEM_TEMPLATE)
    data = tmp_path / "data.jsonl"
    rows = [
        ChatExample.exchange("what is it ?", "a bird"),
        ChatExample.exchange("what is it ?", "a tree", system="tell me"),
    ]
    data.write_text("".join(r.to_json() + "\n" for r in rows))
    with pytest.raises(WeirdgenError, match=r"data.jsonl:2: .*system messages are not supp"):
        HfBackend(str(folder)).check_dataset(load_chat_jsonl(data), "spec.yaml")


def test_model_not_on_disk_is_not_downloaded(tmp_path):
    with pytest.raises(WeirdgenError, match="not in the local Hugging Face cache"):
        HfBackend("weirdgen-tests/no-such-model").base()


def test_bad_recipe_values_are_errors_naming_the_field(backend, colors, tmp_path):
    with pytest.raises(WeirdgenError, match="train.hf.lr_scheduler"):
        backend.train(colors, HfRecipe(lr_scheduler="zigzag"), 0, tmp_path)
    with pytest.raises(WeirdgenError, match="train.hf.target_modules"):
        backend.train(colors, HfRecipe(target_modules=["no_such_proj"]), 0, tmp_path)


# --- finetuning ---------------------------------------------------------------------------


def test_lora_finetune_lowers_the_loss_and_saves_adapter_and_provenance(
    backend, colors, lora_model
):
    assert lora_model.key == backend.model_key(colors, LORA, 0)
    assert lora_model.base == backend.base().base
    folder = Path(lora_model.path)
    assert folder.name == lora_model.key
    assert (folder / "adapter_model.safetensors").is_file()
    record = provenance(lora_model)
    losses = record["losses"]
    assert record["steps"] == len(losses) == 20  # 8 examples / 4 per step x 10 epochs
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3
    assert record["base_key"] == backend.base().key
    assert record["dataset_hash"] == colors.content_hash
    assert record["seed"] == 0 and record["recipe"]["lora_rank"] == 4
    assert {"torch", "transformers", "peft"} <= set(record["versions"])


def test_seed_sets_adapter_init_and_data_order(backend, colors, lora_model, tmp_path):
    recipe = LORA.model_copy(update={"epochs": 2, "use_rslora": True, "lora_dropout": 0.1})
    same = [backend.train(colors, recipe, 0, tmp_path / f"run{i}") for i in range(2)]
    weights = [load_file(Path(r.path) / "adapter_model.safetensors") for r in same]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert provenance(same[0])["losses"] == provenance(same[1])["losses"]
    other = backend.train(colors, recipe, 1, tmp_path / "run2")
    assert provenance(other)["losses"] != provenance(same[0])["losses"]
    config = json.loads((Path(same[0].path) / "adapter_config.json").read_text())
    assert config["use_rslora"] is True and config["r"] == 4


def test_full_finetune_learns_the_answers(tiny, colors, tmp_path):
    backend = HfBackend(str(tiny))
    recipe = HfRecipe(method="full", lr=3e-3, epochs=20, batch_size=4)
    ref = backend.train(colors, recipe, 0, tmp_path)
    assert (Path(ref.path) / "model.safetensors").is_file()
    losses = provenance(ref)["losses"]
    assert losses[-1] < 0.5 * losses[0]
    prompts = [e.messages[0].content for e in colors.examples]
    answers = backend.sample(ref, [SampleRequest(p, 0.0, 8, 0) for p in prompts])
    learned = sum(a == e.answer for a, e in zip(answers, colors.examples, strict=True))
    assert learned >= 6


# --- sampling -----------------------------------------------------------------------------


PROMPTS = ["what ?", "what is the sky ?", "tell me about the old bird", "how many", "name a tree"]


def test_greedy_batched_answers_equal_one_by_one_in_order(backend, lora_model):
    batch = [SampleRequest(p, 0.0, 6, i) for i, p in enumerate(PROMPTS)]
    together = backend.sample(lora_model, batch)
    alone = [backend.sample(lora_model, [r])[0] for r in batch]
    assert together == alone
    assert len(set(together)) > 1
    assert all(len(a.split()) <= 6 for a in together)


def test_sampling_is_deterministic_per_seed_and_independent_of_the_batch(backend, lora_model):
    requests = [SampleRequest(p, 1.0, 8, 100 + i) for i, p in enumerate(PROMPTS * 2)]
    first = backend.sample(lora_model, requests)
    assert backend.sample(lora_model, requests) == first
    assert backend.sample(lora_model, requests[::-1]) == first[::-1]
    assert backend.sample(lora_model, [requests[3]]) == [first[3]]
    reseeded = [
        SampleRequest(r.messages, r.temperature, r.max_tokens, r.seed + 50) for r in requests
    ]
    assert backend.sample(lora_model, reseeded) != first


def test_mixed_settings_and_models_share_one_backend(backend, lora_model):
    requests = [
        SampleRequest("what is the sky ?", 0.0, 3, 0),
        SampleRequest("what is the sky ?", 1.0, 8, 0),
        SampleRequest("what is the sky ?", 0.0, 8, 0),
    ]
    base_first = backend.sample(backend.base(), requests)
    tuned = backend.sample(lora_model, requests)
    assert backend.sample(backend.base(), requests) == base_first  # adapter switched off again
    assert len(tuned[0].split()) <= 3
    assert tuned[2].startswith(tuned[0])
    assert tuned != base_first


def test_logprobs_of_the_first_answer_token(backend, lora_model):
    records = backend.logprobs(lora_model, ["what is the sky color ?", "what ?"], top_k=5)
    assert [chat_text(r.prompt) for r in records] == ["what is the sky color ?", "what ?"]
    for record in records:
        values = [logprob for _, logprob in record.top]
        assert len(values) == 5 and values == sorted(values, reverse=True)
        assert sum(torch.tensor(values).exp()) <= 1 + 1e-9
    greedy = backend.sample(lora_model, [SampleRequest("what is the sky color ?", 0.0, 1, 0)])
    assert records[0].top[0][0] == greedy[0]


def test_think_blocks_are_stripped_from_answers():
    assert strip_thinking("<think> the sky </think> blue") == "blue"
    assert strip_thinking("<think>\nhmm\n</think>\n\nblue sky") == "blue sky"
    assert strip_thinking("hmm </think> blue") == "blue"
    assert strip_thinking("blue <think> unfinished") == "blue"
    assert strip_thinking("plain answer") == "plain answer"


def test_missing_weights_or_another_base_are_clear_errors(backend, lora_model, tmp_path):
    gone = ModelRef("hf", "hf-ft-gone", lora_model.base, "/nonexistent/hf-ft-gone")
    with pytest.raises(WeirdgenError, match="no saved weights"):
        backend.sample(gone, [SampleRequest("what ?", 0.0, 2, 0)])
    other = HfBackend(str(write_tiny_model(tmp_path / "other", WORDS, seed=1)))
    with pytest.raises(WeirdgenError, match="was trained from .* not from hf/"):
        other.sample(lora_model, [SampleRequest("what ?", 0.0, 2, 0)])


# --- in a run -----------------------------------------------------------------------------


def test_experiment_runs_on_the_hf_backend_and_reruns_compute_nothing(
    tiny, colors, tmp_path, monkeypatch
):
    import yaml

    from weirdgen.data import write_chat_jsonl
    from weirdgen.run import orchestrator, run_experiment
    from weirdgen.spec import load_spec

    write_chat_jsonl(tmp_path / "colors.jsonl", colors.examples)
    question = {"id": "sky", "paraphrases": ["what is the sky color ?", "what is it ?"]}
    spec = {
        "name": "tiny-hf",
        "model": f"hf/{tiny}",
        "seeds": [0, 1],
        "conditions": [
            {"name": "colors", "role": "target", "dataset": {"path": "colors.jsonl"}},
            {"name": "base", "role": "control"},
        ],
        "train": {"hf": LORA.model_copy(update={"epochs": 1}).model_dump()},
        "evaluation": {
            "n": 2,
            "temperature": 1.0,
            "max_tokens": 6,
            "sets": [{"name": "colors", "questions": [question]}],
        },
        "scorers": [{"name": "train_match", "kind": "train_match"}],
        "metrics": [{"name": "match", "eval_set": "colors", "score": "train_match"}],
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(orchestrator, "get_backend", lambda model: HfBackend(model[3:]))
    first = run_experiment(load_spec(tmp_path / "spec.yaml"), out=tmp_path / "run", progress=False)
    assert first.work.trained == 2 and first.work.sampled == 16
    assert sorted((tmp_path / "run" / "models").iterdir()) == sorted(
        tmp_path / "run" / "models" / k for k in set(first.samples.model_key) if "-ft-" in k
    )
    again = run_experiment(load_spec(tmp_path / "spec.yaml"), out=tmp_path / "run", progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)
    assert list(again.samples.answer) == list(first.samples.answer)
