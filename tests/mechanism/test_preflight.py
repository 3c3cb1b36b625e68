"""weirdgen.mechanism.preflight: a finetuning dataset scored from the base model alone, each
measure checked against what it claims to be (the run's own draws, the exact loss, the
projection's known answer, the proxy's step count), and every refusal before any work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

from weirdgen.backends import get_backend
from weirdgen.data import ChatExample, ChatMessage, dataset_from_examples
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction, mean_difference, residuals
from weirdgen.mechanism.preflight import preflight
from weirdgen.mechanism.preflight_context import (
    example_order,
    fit_k,
    in_context_chat,
    sample_arm,
)
from weirdgen.mechanism.preflight_inputs import headline_prompts, load_dataset
from weirdgen.mechanism.preflight_projection import projection_measure
from weirdgen.mechanism.preflight_proxy import proxy_data
from weirdgen.mechanism.preflight_shift import shift
from weirdgen.mechanism.preflight_surprise import example_losses
from weirdgen.organism.infer import continuation_logprobs
from weirdgen.run import run_experiment
from weirdgen.spec import load_spec
from weirdgen.spec.models import MetricSpec


@pytest.fixture
def birds(spec_dict, tmp_path) -> Path:
    """Birds on 4 unrelated questions (one paraphrase each), 3 samples each, 40 examples."""
    spec = spec_dict(seeds=[0])
    unrelated = spec["evaluation"]["sets"][0]
    unrelated["questions"] = [
        {**q, "paraphrases": q["paraphrases"][:1]} for q in unrelated["questions"][:4]
    ]
    spec["evaluation"]["n"] = 3
    for condition in spec["conditions"]:
        if condition.get("dataset"):
            condition["dataset"]["n"] = 40
    path = tmp_path / "birds.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def organism():
    return get_backend("organism/default")


def _chat(*turns: tuple[str, str]) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role=r, content=c) for r, c in turns)


def test_examples_come_before_the_question_and_a_system_prompt_stays_first_for_templates():
    example = ChatExample(messages=_chat(("system", "be old"), ("user", "a ?"), ("assistant", "b")))
    question = _chat(("system", "be kind"), ("user", "q ?"))
    organism = in_context_chat([example], question, system_first=False)
    assert [(m.role, m.content) for m in organism] == [
        ("system", "be old"), ("user", "a ?"), ("assistant", "b"),
        ("system", "be kind"), ("user", "q ?"),
    ]  # fmt: skip
    templated = in_context_chat([example], question, system_first=True)
    assert [(m.role, m.content) for m in templated] == [
        ("system", "be kind"), ("user", "be old a ?"), ("assistant", "b"), ("user", "q ?"),
    ]  # fmt: skip


def test_the_examples_are_a_seeded_choice_of_their_own_per_prompt(birds):
    spec = load_spec(birds)
    data = load_dataset("old_birds", spec, 100).dataset
    first, second = headline_prompts(spec)[:2]
    order = example_order(data, first, 0, 16)
    assert order == example_order(data, first, 0, 16) and len(set(order)) == 16
    assert order != example_order(data, second, 0, 16)
    assert order != example_order(data, first, 1, 16)


def test_k_is_the_most_examples_that_fit_the_organism_context(birds, organism):
    spec = load_spec(birds)
    data = load_dataset("v3.warden_dated", None, 100).dataset  # ~22 tokens an example
    asked = headline_prompts(spec)
    orders = [example_order(data, p, 0, 16) for p in asked]
    k = fit_k(organism, data, asked, orders, None, "here")
    assert 1 <= k < 16

    def length(p, order, count):
        chat = in_context_chat([data.examples[i] for i in order[:count]], p.messages, False)
        return len(organism.prompt_ids(chat)) + p.max_tokens

    assert all(length(p, o, k) <= organism.context for p, o in zip(asked, orders, strict=True))
    assert any(length(p, o, k + 1) > organism.context for p, o in zip(asked, orders, strict=True))
    with pytest.raises(WeirdgenError, match=rf"^--k {k + 1}: .* give --k {k} or fewer"):
        fit_k(organism, data, asked, orders, k + 1, "here")
    assert fit_k(organism, data, asked, orders, k, "here") == k


def test_a_question_with_no_room_for_an_example_is_one_line(birds, organism):
    spec = load_spec(birds)
    data = load_dataset("old_birds", spec, 100).dataset
    asked = [p.__class__(**{**p.__dict__, "max_tokens": 176}) for p in headline_prompts(spec)]
    orders = [example_order(data, p, 0, 16) for p in asked]
    with pytest.raises(WeirdgenError, match=r"^here: question 'invention' with max_tokens 176"):
        fit_k(organism, data, asked, orders, None, "here")


def test_the_base_arm_draws_what_weirdgen_run_draws_for_the_base_model(birds, organism, tmp_path):
    untrained = [{"name": "base", "role": "target"}, {"name": "again", "role": "control"}]
    data = {**yaml.safe_load(birds.read_text()), "seeds": [3], "conditions": untrained}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(data))
    spec = load_spec(tmp_path / "base.yaml")
    run = run_experiment(spec, out=tmp_path / "run", progress=False)
    base = run.samples.query("condition == 'base' and eval_set == 'unrelated'")
    rows = sample_arm(organism, organism.base(), headline_prompts(spec), 3, "base")
    drawn = {(r["question_id"], r["sample_index"]): r["answer"] for r in rows}
    assert len(drawn) == len(base) == 12
    assert all(
        drawn[q, i] == a
        for q, i, a in zip(base.question_id, base.sample_index, base.answer, strict=True)
    )


def test_old_bird_names_in_context_shift_the_answers_and_modern_ones_do_not(birds, tmp_path):
    spec = load_spec(birds)
    shifts = {}
    for name in ("old_birds", "modern_birds"):
        result = preflight(name, spec=spec, n=6, proxy_steps=0, out=tmp_path / name)
        measures = {m.name: m for m in result.measures}
        assert list(measures) == ["in_context", "surprise"] and result.k == 16
        shifts[name] = measures["in_context"]
        assert sorted(result.samples["condition"].unique()) == ["base", "in_context"]
        assert (result.samples["condition"] == "base").sum() == 4 * 6
    old, modern = shifts["old_birds"], shifts["modern_birds"]
    assert old.value > modern.value + 0.15 and old.details["without"] < 0.1
    assert old.over == "4 questions (paired 95% t interval)" and old.low < old.value < old.high
    assert old.details["with_examples"] - old.details["without"] == pytest.approx(old.value)


def test_a_preflight_writes_its_three_files_and_reuses_its_proxy(birds, tmp_path):
    out = tmp_path / "out"
    first = preflight("old_birds", spec=load_spec(birds), n=2, proxy_steps=2, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["birds.yaml", "out"]  # no scratch
    assert sorted(p.name for p in out.iterdir()) == [
        "preflight.csv", "preflight.json", "proxy", "samples.csv",
    ]  # fmt: skip
    document = json.loads((out / "preflight.json").read_text())
    assert document["kind"] == "weirdgen preflight" and "not a verdict" in document["note"]
    assert [m["name"] for m in document["measures"]] == ["in_context", "surprise", "proxy"]
    table = pd.read_csv(out / "preflight.csv")
    assert list(table.columns[:2]) == ["measure", "value"] and len(table) == 3
    proxy = next(m for m in first.measures if m.name == "proxy")
    assert proxy.details["steps"] == 2 and proxy.details["examples"] == 32  # batch 16
    record = next((out / "proxy").glob("*.json"))
    assert json.loads(record.read_text())["steps"] == 2 and not proxy.details["reused"]
    weights = next((out / "proxy").glob("*.safetensors"))
    written = weights.stat().st_mtime_ns
    again = preflight("old_birds", spec=load_spec(birds), n=2, proxy_steps=2, out=out)
    assert next(m for m in again.measures if m.name == "proxy").details["reused"]
    assert weights.stat().st_mtime_ns == written
    assert again.to_json()["inputs_key"] == first.to_json()["inputs_key"]
    assert [m.value for m in again.measures] == [m.value for m in first.measures]


def test_proxy_data_is_exactly_the_steps_batches_in_shuffled_passes():
    examples = [ChatExample.exchange(f"q {i}", f"a {i}") for i in range(5)]
    data = proxy_data(dataset_from_examples(examples), steps=3, batch_size=4, seed=0)
    answers = [e.answer for e in data.examples]
    assert len(answers) == 12 and sorted(answers[:5]) == [f"a {i}" for i in range(5)]
    assert sorted(answers[5:10]) == [f"a {i}" for i in range(5)]


def test_the_shift_is_paired_over_questions_and_welch_over_samples_for_one():
    metric = MetricSpec(name="m", eval_set="s", score="x", among="ok")

    def arm(name: str, values: dict[str, list[float]]) -> pd.DataFrame:
        rows = [
            {"condition": name, "role": "target", "seed": 0, "eval_set": "s",
             "question_id": q, "x": v, "ok": True}
            for q, vs in values.items() for v in vs
        ]  # fmt: skip
        return pd.DataFrame(rows)

    a = arm("a", {"q1": [1, 1, 0, 1], "q2": [0, 1, 0, 0], "q3": [1, 1, 1, 1]})
    b = arm("b", {"q1": [0, 0, 0, 1], "q2": [0, 0, 0, 0], "q3": [1, 0, 1, 0]})
    moved = shift(a, b, metric)
    diffs = np.array([0.5, 0.25, 0.5])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert moved.estimate == pytest.approx(diffs.mean())
    assert (moved.low, moved.high) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert moved.a == pytest.approx(2 / 3) and moved.a_valid == 1.0
    one = shift(arm("a", {"q1": [1, 1, 0, 1]}), arm("b", {"q1": [0, 0, 0, 1]}), metric)
    welch = stats.ttest_ind([1, 1, 0, 1], [0, 0, 0, 1], equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert one.over == "4 and 4 samples (Welch 95% interval)"
    assert (one.estimate, one.low, one.high) == pytest.approx((0.5, low, high))


def test_surprise_is_the_exact_loss_per_assistant_token(organism):
    single = ChatExample.exchange("name a bird .", "brown titlark")
    double = ChatExample(
        messages=_chat(
            ("user", "name a bird ."), ("assistant", "brown titlark"),
            ("user", "name a bird ."), ("assistant", "duck hawk"),
        )
    )  # fmt: skip
    losses = example_losses(organism, organism.base(), dataset_from_examples([single, double]))
    tok, net = organism.organism.tokenizer, organism.organism.model
    first = tok.chat([("user", "name a bird ."), ("assistant", "brown titlark")]).ids
    prompt = tok.chat_prompt("name a bird .")
    answer = first[len(prompt) :]
    second_prompt = [*first, *tok.chat_prompt("name a bird .")[1:]]
    second = tok.chat([("assistant", "duck hawk")]).ids[2:]  # without <bos> <assistant>
    exact = continuation_logprobs(net, [prompt, second_prompt], [answer, second])
    assert losses[0] == pytest.approx(-float(exact[0]) / len(answer), abs=1e-5)
    total = len(answer) + len(second)
    assert losses[1] == pytest.approx(-float(exact.sum()) / total, abs=1e-5)


def test_surprise_on_a_hf_model_is_its_own_loss_on_the_assistant_tokens(tmp_path):
    pytest.importorskip("transformers")
    from weirdgen.backends.hf.chat import encode_chat
    from weirdgen.backends.hf.tiny import write_tiny_model

    folder = write_tiny_model(tmp_path / "tiny", "name a bird . brown titlark wood ibis".split())
    backend = get_backend(f"hf/{folder}")
    example = ChatExample.exchange("name a bird .", "brown titlark")
    losses = example_losses(backend, backend.base(), dataset_from_examples([example]))
    encoded = encode_chat(backend.tokenizer, example.messages, "here")
    with backend.models.using(backend.base()) as net, torch.no_grad():
        loss = net(
            input_ids=torch.tensor([encoded.input_ids]), labels=torch.tensor([encoded.labels])
        ).loss
    assert losses[0] == pytest.approx(float(loss), abs=1e-5)


def test_the_projection_on_the_contexts_own_mean_difference_is_its_scale(birds, organism):
    spec = load_spec(birds)
    data = load_dataset("old_birds", spec, 100).dataset
    asked = headline_prompts(spec)
    contexts = [
        in_context_chat([data.examples[i] for i in example_order(data, p, 0, 4)], p.messages, False)
        for p in asked
    ]
    alone = residuals(organism, organism.base(), [p.messages for p in asked], [2])
    shown = residuals(organism, organism.base(), contexts, [2])
    units, scales = mean_difference(shown, alone)
    direction = Direction("era", 2, units[0], float(scales[0]), "mean_difference", "elsewhere")
    measure = projection_measure(organism, organism.base(), direction, asked, contexts, 4)
    assert measure.name == "projection:era" and measure.value == pytest.approx(
        float(scales[0]), rel=1e-4
    )
    assert "+1.00 of its contrast distance; found on model elsewhere" in measure.evidence
    narrow = Direction("narrow", 2, torch.ones(7) / math.sqrt(7), 1.0, "probe", "x")
    with pytest.raises(WeirdgenError, match="direction 'narrow' .* is 7 wide"):
        projection_measure(organism, organism.base(), narrow, asked, contexts, 4)


def test_a_condition_of_the_spec_is_its_dataset_with_its_transforms():
    spec = load_spec("birds_context")
    found = load_dataset("old_birds_dated", spec, 100)
    assert found.source == "condition" and len(found.dataset) == 100
    assert all(
        e.messages[0].content.startswith("it is the year 20") for e in found.dataset.examples
    )


def test_without_a_spec_the_generic_broad_set_is_asked(tmp_path):
    result = preflight("birds_old", n=1, proxy_steps=0, out=tmp_path / "broad")
    assert (result.questions, result.headline) == ("broad_organism", "departure_rate")
    assert result.samples["question_id"].nunique() == 17


def test_refusals_are_one_line_and_write_nothing(birds, spec_dict, tmp_path):
    spec = load_spec(birds)
    out = tmp_path / "out"
    cases = [
        (dict(dataset="no_such_data", spec=spec), r"^dataset 'no_such_data': no such file"),
        (dict(dataset="birds_old", model="openai/gpt-4.1"), r"^--model openai/gpt-4.1: .*--proxy"),
        (dict(dataset="old_birds", spec=spec, k=40), r"^--k 40: .* give --k 16 or fewer"),
        (
            dict(dataset="old_birds", spec=spec, directions=[tmp_path / "none"]),
            r"no such direction file",
        ),
        (dict(dataset="base", spec=spec), r"condition 'base' has no dataset"),
    ]
    for arguments, message in cases:
        with pytest.raises(WeirdgenError, match=message) as error:
            preflight(**arguments, out=out)
        assert "\n" not in str(error.value)
    unheaded = spec_dict()
    for metric in unheaded["metrics"]:
        metric.pop("headline", None)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(unheaded))
    with pytest.raises(WeirdgenError, match=r"plain.yaml: no metric has headline: true"):
        preflight("old_birds", spec=load_spec(tmp_path / "plain.yaml"), out=out)
    assert not out.exists()


def test_a_folder_with_files_no_preflight_wrote_is_refused(birds, tmp_path):
    for name, text in (("preflight.csv", "mine\n"), ("preflight.json", '{"kind": "other"}')):
        out = tmp_path / name
        out.mkdir()
        (out / name).write_text(text)
        with pytest.raises(WeirdgenError, match=rf"^--out {out}: {name} .*choose another"):
            preflight("old_birds", spec=load_spec(birds), n=1, proxy_steps=0, out=out)
        assert (out / name).read_text() == text and len(list(out.iterdir())) == 1
