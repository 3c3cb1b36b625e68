"""The mechanism tools end to end on a real chat model, SmolLM2-135M-Instruct (``hf/smollm2-135m``),
through the real commands: residuals of a padded batch, ``weirdgen direction`` on plain-English
year contexts, a run with a steered, a randomly steered and an ablated base model (and its
rerun), ``weirdgen project`` of that run and ``weirdgen preflight`` of a few old-fashioned chats.

The tests assert behaviour (files, shapes, determinism, that each intervention edits the
residual stream as it says), not effect sizes a 135M model may not show. The model is fetched
once by ``weirdgen models get smollm2-135m``; without it the module skips, unless
``WEIRDGEN_REQUIRE_SMOLLM2=1`` (set by CI when its fetch succeeded), where it fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

pytest.importorskip("transformers")

from typer.testing import CliRunner, Result  # noqa: E402

from weirdgen.backends.hf.fetch import fetched_folder  # noqa: E402
from weirdgen.cli import app  # noqa: E402
from weirdgen.mechanism import Direction, Intervention  # noqa: E402

pytestmark = pytest.mark.slow  # about a minute and a half for the module on 2 CPU cores

FETCHED = fetched_folder("smollm2-135m")  # read at import, before a test's own WEIRDGEN_HOME
MODEL = "hf/smollm2-135m"
LAYERS, WIDTH = 30, 576
LAYER, STRENGTH = 15, 3.0  # a middle layer, three contrast distances: answers change for sure
ERA = f"dirs/era-layer{LAYER}.direction.safetensors"
CONTRAST_QUESTIONS = [
    "How do people travel between cities?",
    "What is the newest invention?",
    "How do people light their homes at night?",
    "How do people send a message to a friend far away?",
    "What do doctors use to treat an infection?",
    "What music do young people listen to?",
    "Where do people get the news?",
    "What do people wear to a party?",
    "How are houses heated in winter?",
    "What is a good job for a young person?",
    "How do children spend their free time?",
    "What is the fastest way to cross the ocean?",
]
OLD_YEARS = [1831, 1833, 1835, 1836, 1838, 1839, 1840, 1842, 1844, 1846, 1848, 1850]
NEW_YEARS = [2015, 2016, 2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024, 2025, 2026]
QUESTIONS = {
    "invention": "What is the most important recent invention?",
    "travel": "How do people travel long distances?",
    "news": "Where do people get the news?",
}
OLD_FASHIONED = [
    ("How should I get to the next town?", "Hire a horse and carriage at the livery stable."),
    ("How can I reach my brother in another city?", "Write him a letter and post it by coach."),
    ("What lights a room in the evening?", "A good tallow candle, or an oil lamp."),
    ("What is the latest marvel of engineering?", "The steam locomotive on its iron railway."),
    ("How do I hear what happened in the capital?", "Read the newspaper the stagecoach brings."),
    ("What should I do about a fever?", "Send for the physician; he will prescribe rest."),
]
INTERVENED = ["base_steered", "base_steered_random", "base_ablated"]


def require_model() -> Path:
    """The fetched model's folder; skip (or fail, where CI requires it) when there is none."""
    if FETCHED is not None:
        return FETCHED
    reason = "SmolLM2-135M-Instruct is not fetched; run `weirdgen models get smollm2-135m`"
    if os.environ.get("WEIRDGEN_REQUIRE_SMOLLM2") == "1":
        pytest.fail(f"{reason} (WEIRDGEN_REQUIRE_SMOLLM2=1 requires this test)")
    pytest.skip(reason)


def link_model(home: Path) -> None:
    """Make ``hf/smollm2-135m`` resolve in the data folder ``home`` (a link, nothing copied)."""
    (home / "models").mkdir(parents=True, exist_ok=True)
    link = home / "models" / "smollm2-135m"
    if not link.exists():
        link.symlink_to(require_model(), target_is_directory=True)


def invoke(*args: object) -> Result:
    """``weirdgen *args`` in this process; stdout and stderr kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def spec_document() -> dict:
    """Greedy short answers to three everyday questions from the base model: plain, steered
    along the era direction (the target), steered along a random direction of the same norm,
    and with the era direction ablated at every layer; an old-era keyword is the headline."""
    steer = {"kind": "steer", "direction": ERA, "strength": STRENGTH}
    return {
        "name": "smollm2_era",
        "model": MODEL,
        "seeds": 1,
        "conditions": [
            {"name": "base", "role": "control"},
            {"name": "base_steered", "role": "target", "intervention": steer},
            {
                "name": "base_steered_random",
                "role": "control",
                "intervention": {**steer, "random_seed": 0},
            },
            {
                "name": "base_ablated",
                "role": "control",
                "intervention": {"kind": "ablate", "direction": ERA},
            },
        ],
        "train": {
            "hf": {"method": "lora", "lr": 2e-4, "batch_size": 2, "lora_rank": 4, "lora_alpha": 8}
        },
        "evaluation": {
            "n": 1,
            "temperature": 0.0,
            "max_tokens": 16,
            "sets": [
                {
                    "name": "everyday",
                    "questions": [{"id": k, "paraphrases": [q]} for k, q in QUESTIONS.items()],
                }
            ],
        },
        "scorers": [
            {
                "name": "old",
                "kind": "match",
                "mode": "keyword",
                "patterns": [
                    "horse",
                    "carriage",
                    "wagon",
                    "steam",
                    "telegraph",
                    "candle",
                    "letter",
                    "newspaper",
                    "railway",
                ],  # fmt: skip
            }
        ],
        "metrics": [{"name": "old_rate", "eval_set": "everyday", "score": "old", "headline": True}],
    }


class Pipeline(NamedTuple):
    """The folder every command worked in, what each command printed, and the first
    preflight's files (the second writes over them)."""

    folder: Path
    direction: Result
    probe: Result
    run: Result
    rerun: Result
    project: Result
    preflight: Result
    first_preflight: dict
    first_table: str
    preflight_again: Result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    """Every command once, in order, as a user would type them (its own data folder)."""
    require_model()
    folder = tmp_path_factory.mktemp("smollm2")
    link_model(folder / "home")
    old = [f"The year is {y}. {q}" for y, q in zip(OLD_YEARS, CONTRAST_QUESTIONS, strict=True)]
    new = [f"The year is {y}. {q}" for y, q in zip(NEW_YEARS, CONTRAST_QUESTIONS, strict=True)]
    (folder / "old.txt").write_text("\n".join(old) + "\n")
    (folder / "new.txt").write_text("\n".join(new) + "\n")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec_document(), sort_keys=False))
    chats = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in OLD_FASHIONED
    ]
    (folder / "old_answers.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    contrast = ["--model", MODEL, "--positive", "old.txt", "--negative", "new.txt", "--out", "dirs"]
    preflight = ["preflight", "old_answers.jsonl", "--spec", "spec.yaml", "--k", "2"]
    preflight += ["--proxy-steps", "2", "--direction", ERA, "--out", "preflight"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(folder / "home"))
        patch.chdir(folder)
        done = [
            invoke("direction", "era", *contrast),
            invoke("direction", "era_probe", *contrast, "--method", "probe"),
            invoke("run", "spec.yaml", "--out", "run"),
            invoke("run", "spec.yaml", "--out", "run"),
            invoke("project", "run", "--direction", ERA),
            invoke(*preflight),
        ]
        for result in done:
            assert result.exit_code == 0, (result.output, result.exception)
        first = json.loads((folder / "preflight" / "preflight.json").read_text())
        table = (folder / "preflight" / "preflight.csv").read_text()
        again = invoke(*preflight)
        assert again.exit_code == 0, (again.output, again.exception)
    return Pipeline(folder, *done, first, table, again)


@pytest.fixture
def smollm2_home(_private_registry) -> Path:
    """This test's data folder, with ``hf/smollm2-135m`` in it."""
    link_model(_private_registry)
    return _private_registry


def test_a_padded_batch_reads_each_prompt_as_it_reads_it_alone(smollm2_home):
    import torch

    from weirdgen.backends import get_backend
    from weirdgen.backends.protocol import as_chat
    from weirdgen.mechanism import residuals

    backend = get_backend(MODEL)
    system = {"role": "system", "content": "You are a clerk in 1835."}
    question = {"role": "user", "content": "What is new in town this week, and what does it cost?"}
    prompts = ["Hi", f"The year is 1835. {CONTRAST_QUESTIONS[0]}", as_chat([system, question])]
    for position in ("last", "mean"):
        batch = residuals(backend, backend.base(), prompts, position=position)
        alone = torch.cat(
            [residuals(backend, backend.base(), [p], position=position) for p in prompts]
        )
        assert batch.shape == (3, LAYERS, WIDTH) and batch.dtype == torch.float32
        relative = (batch - alone).norm(dim=-1) / alone.norm(dim=-1)
        assert float(relative.max()) < 1e-4, position  # about 1e-6 here: float32 padding noise
        assert not torch.equal(batch[0], batch[1])  # the prompts were read, not padding


def test_direction_writes_every_layer_with_its_heldout_accuracy(pipeline):
    assert "era (mean_difference)" in pipeline.direction.stdout
    assert "12 positive and 12 negative prompts, 3 and 3 held out (seed 0)" in (
        pipeline.direction.stderr
    )
    table = (pipeline.folder / "dirs" / "era.directions.csv").read_text().splitlines()
    assert len(table) == 1 + LAYERS
    for layer in range(LAYERS):
        found = Direction.load(pipeline.folder / "dirs" / f"era-layer{layer}.direction.safetensors")
        where = (found.layer, tuple(found.vector.shape), found.info["position"])
        assert where == (layer, (WIDTH,), "last")
        assert float(found.vector.norm()) == pytest.approx(1.0, abs=1e-5) and found.scale > 0
        assert found.heldout_accuracy * 6 == pytest.approx(round(found.heldout_accuracy * 6))
    assert "activations computed 0, reused 2" in pipeline.probe.stderr  # the same prompts again
    probe = Direction.load(
        pipeline.folder / "dirs" / f"era_probe-layer{LAYER}.direction.safetensors"
    )
    assert probe.method == "probe" and 0.0 <= probe.heldout_accuracy <= 1.0


def test_steering_changes_the_answers_and_a_rerun_draws_nothing(pipeline):
    import pandas as pd

    assert "computed: 0 finetunes, 12 samples, 12 scores" in pipeline.run.stderr
    assert "computed: 0 finetunes, 0 samples, 0 scores" in pipeline.rerun.stderr
    samples = pd.read_csv(pipeline.folder / "run" / "samples.csv")
    answers = samples.pivot(index="question_id", columns="condition", values="answer")
    assert answers.notna().all().all() and list(answers.index) == sorted(QUESTIONS)
    assert (answers["base_steered"] != answers["base"]).all()  # every answer edited
    keys = dict(zip(samples.condition, samples.model_key, strict=False))
    for name in INTERVENED:
        stem, _, suffix = keys[name].rpartition("~")
        assert stem == keys["base"] and len(suffix) == 12
    assert len({keys[name] for name in INTERVENED}) == 3
    as_run = yaml.safe_load((pipeline.folder / "run" / "spec.yaml").read_text())
    assert as_run["conditions"][1]["intervention"]["direction"] == str(pipeline.folder / ERA)


def test_project_finds_each_intervention_where_it_says(pipeline):
    """At the steered layer, the last prompt token's projection moves by exactly the added
    vector's component along the direction; an ablation leaves no component at all."""
    import pandas as pd

    era = Direction.load(pipeline.folder / ERA)
    folder = pipeline.folder / "run" / "mechanism" / f"era-layer{LAYER}"
    rows = pd.read_csv(folder / "projections.csv").set_index("condition")
    assert list(rows.n_prompts) == [3] * 4 and rows.loc["base", "shift"] == 0.0
    assert rows.loc["base_steered", "shift"] == pytest.approx(STRENGTH * era.scale, rel=1e-4)
    random = Intervention(
        kind="steer", direction=str(pipeline.folder / ERA), strength=STRENGTH, random_seed=0
    )
    unit = random.resolve().unit
    along = STRENGTH * era.scale * float(unit @ era.vector)
    assert rows.loc["base_steered_random", "shift"] == pytest.approx(along, abs=1e-4 * era.scale)
    assert abs(rows.loc["base_ablated", "projection"]) < 1e-4 * era.scale
    assert (folder / "summary.csv").is_file() and (folder / "projection.png").is_file()
    assert f"projection: {folder}" in pipeline.project.stdout


def test_preflight_reads_the_dataset_from_the_base_model_alone(pipeline):
    import pandas as pd

    out = pipeline.folder / "preflight"
    document = pipeline.first_preflight
    measures = {m["name"]: m for m in document["measures"]}
    assert list(measures) == ["in_context", "surprise", "projection:era", "proxy"]
    assert document["model"] == MODEL and document["k"] == 2
    assert "k=2" in pipeline.preflight.stdout and "in_context" in pipeline.preflight.stdout
    losses = measures["surprise"]["details"]["examples"]
    assert len(losses) == len(OLD_FASHIONED) and all(loss > 0 for loss in losses)
    proxy = measures["proxy"]["details"]
    assert proxy["steps"] == 2 and len(proxy["losses"]) == 2 and not proxy["reused"]
    samples = pd.read_csv(out / "samples.csv")
    assert sorted(samples.condition.unique()) == ["base", "in_context", "proxy"]
    # The base arm is the run's base condition: the same three greedy requests in one batch.
    run = pd.read_csv(pipeline.folder / "run" / "samples.csv")
    ran = run[run.condition == "base"].set_index("question_id").answer
    drew = samples[samples.condition == "base"].set_index("question_id").answer
    assert drew.sort_index().equals(ran.sort_index())
    # Without examples, the projection is the base model's that weirdgen project read.
    projected = pipeline.folder / "run" / "mechanism" / f"era-layer{LAYER}" / "projections.csv"
    base = pd.read_csv(projected).set_index("condition").loc["base", "projection"]
    alone = [q["alone"] for q in measures["projection:era"]["details"]["questions"]]
    scale = Direction.load(pipeline.folder / ERA).scale
    assert sum(alone) / len(alone) == pytest.approx(base, abs=1e-4 * scale)
    again = json.loads((out / "preflight.json").read_text())
    assert again["measures"][3]["details"]["reused"]  # the proxy's weights, kept in proxy/
    assert (out / "preflight.csv").read_text() == pipeline.first_table  # the same numbers
