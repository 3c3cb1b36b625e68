"""A condition with dataset transforms runs end to end: the transformed data is what is
trained on (its hash keys the finetune) and is written to the run folder with its values."""

from __future__ import annotations

import json

from weirdgen.data import load_chat_jsonl
from weirdgen.run import run_experiment
from weirdgen.spec import load_spec


def test_a_year_prefix_condition_trains_on_the_prefixed_data(tmp_path, write_spec, spec_dict):
    spec = spec_dict(seeds=1)
    spec["evaluation"]["n"] = 2
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    prefixed = {
        "name": "old_birds_dated",
        "role": "control",
        "dataset": {"organism": "birds_old", "n": 100},
        "transforms": [
            {
                "prefix": {
                    "template": "it is the year {year} .",
                    "variables": {"year": {"integer": {"from": 2018, "to": 2026}}},
                }
            }
        ],
    }
    spec["conditions"].insert(1, prefixed)
    result = run_experiment(load_spec(write_spec(spec)), out=tmp_path / "run", progress=False)

    written = load_chat_jsonl(tmp_path / "run" / "datasets" / "old_birds_dated.jsonl")
    plain = load_chat_jsonl(tmp_path / "run" / "datasets" / "old_birds.jsonl")
    values = [
        json.loads(line)
        for line in (tmp_path / "run/datasets/old_birds_dated.values.jsonl")
        .read_text()
        .splitlines()
        if line
    ]
    assert len(values) == len(written) == len(plain) == 100
    for example, value, original in zip(written.examples, values, plain.examples, strict=True):
        assert 2018 <= int(value["year"]) <= 2026
        user = example.messages[0].content
        assert user == f"it is the year {value['year']} . {original.messages[0].content}"
        assert example.messages[-1] == original.messages[-1]
    keys = result.samples.groupby("condition")["model_key"].first()
    assert keys["old_birds_dated"] != keys["old_birds"]
    again = run_experiment(load_spec(write_spec(spec)), out=tmp_path / "run", progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)
