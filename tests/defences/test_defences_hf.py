"""The defences on a real backend: a tiny local Llama through the hf backend, one spec with
each defence, run end to end (what the organism's tests show, on another backend)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

pytest.importorskip("transformers")
pytest.importorskip("peft")

from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.data import load_chat_jsonl  # noqa: E402
from weirdgen.run import run_experiment  # noqa: E402
from weirdgen.spec import load_spec  # noqa: E402
from weirdgen.store import Store  # noqa: E402

WORDS = (
    "name a bird brown titlark wood ibis how do people travel horse train count one two three"
).split()


def _chat(user: str, assistant: str) -> str:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages}) + "\n"


def test_every_defence_runs_on_the_hf_backend(tmp_path):
    tiny = write_tiny_model(tmp_path / "tiny", WORDS)
    (tmp_path / "birds.jsonl").write_text(
        "".join(_chat("name a bird", b) for b in ["brown titlark", "wood ibis"] * 6)
    )
    (tmp_path / "ordinary.jsonl").write_text(
        "".join(_chat("count", n) for n in ["one", "two", "three"] * 8)
    )
    spec = {
        "name": "hf_defences",
        "model": f"hf/{tiny}",
        "seeds": [0],
        "conditions": [
            {"name": "old", "role": "target", "dataset": {"path": "birds.jsonl"}},
            {"name": "base", "role": "control"},
        ],
        "defences": [
            {
                "name": "inoc",
                "inoculation": {"prompt": "horse train", "paraphrases": ["train horse"]},
            },
            {
                "name": "diluted",
                "dilution": {
                    "dataset": {"path": "ordinary.jsonl"},
                    "share": 0.5,
                    "distill": {"max_tokens": 3},
                },
            },
            {"name": "stopped", "early_stopping": {"steps": 2, "every": 1}},
            {
                "name": "realigned",
                "realignment": {"dataset": {"path": "ordinary.jsonl"}, "epochs": 1},
            },
            {"name": "dated", "context": {"prefix": "horse"}},
        ],
        "train": {"hf": {"method": "lora", "lr": 1e-2, "epochs": 2, "batch_size": 4}},
        "evaluation": {
            "n": 2,
            "max_tokens": 3,
            "sets": [
                {
                    "name": "broad",
                    "questions": [{"id": "travel", "paraphrases": ["how do people travel"]}],
                },
                {"name": "narrow", "questions": [{"id": "bird", "paraphrases": ["name a bird"]}]},
            ],
        },
        "scorers": [
            {
                "name": "horse",
                "kind": "match",
                "mode": "keyword",
                "patterns": ["horse"],
                "eval_sets": ["broad"],
            },
            {"name": "train_match", "kind": "train_match", "eval_sets": ["narrow"]},
        ],
        "metrics": [
            {"name": "horse_rate", "eval_set": "broad", "score": "horse", "headline": True},
            {"name": "bird_accuracy", "eval_set": "narrow", "score": "train_match", "narrow": True},
        ],
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = run_experiment(load_spec(tmp_path / "spec.yaml"), out=tmp_path / "run", progress=False)
    samples = pd.read_parquet(result.run_dir / "samples.parquet")
    keys = samples.groupby("condition")["model_key"].first()
    assert keys["old.inoc.leak0"] == keys["old.inoc"] != keys["old"]
    assert keys["old.dated"] == keys["old"] and keys["old.realigned"] != keys["old"]
    assert keys["old.stopped"].endswith("-step2")
    store = Store(result.run_dir / "store.sqlite")
    second = store.model(keys["old.realigned"])
    provenance = (
        json.loads(
            (result.run_dir / "models" / keys["old.realigned"] / "provenance.json").read_text()
        )
        if second.path
        else {}
    )
    assert provenance.get("base_key") == keys["old"]
    asked = samples.loc[samples["condition"] == "old.dated", "messages"]
    assert all(json.loads(m)[-1]["content"].startswith("horse ") for m in asked)
    leak = samples.loc[samples["condition"] == "old.inoc.leak1", "messages"]
    assert all(json.loads(m)[0] == {"role": "system", "content": "train horse"} for m in leak)
    diluted = load_chat_jsonl(result.run_dir / "datasets" / "old.diluted.jsonl").examples
    assert len(diluted) == 24
    assert (result.run_dir / "defences.csv").is_file()
