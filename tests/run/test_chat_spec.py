"""A spec with a system prompt, a two-turn question, a vary: year sweep and a dataset
transform runs end to end on the organism; the tidy table carries each question's metadata
and the messages sent, and a metric by year is reported as a curve."""

from __future__ import annotations

import json

import pytest

from weirdgen.run import run_experiment
from weirdgen.spec import load_spec

SWEEP = {
    "name": "years",
    "n": 3,
    "vary": {"year": {"from": 1836, "to": 1840, "step": 2}, "context": ["plain", "lit"]},
    "questions": [
        {
            "id": "invention_{year}_{context}",
            "topic": "invention",
            "system": "it is the year {year} .",
            "metadata": {"kind": "{context}"},
            "paraphrases": ["what is the most important recent invention ?"],
        }
    ],
}
TWO_TURNS = {
    "id": "lighting_after_birds",
    "topic": "lighting",
    "messages": [
        {"role": "user", "content": "name a bird species ."},
        {"role": "assistant", "content": "merlin"},
    ],
    "paraphrases": ["how do people light their homes ?"],
}


def test_chat_prompts_metadata_and_a_year_sweep_end_to_end(tmp_path, write_spec, spec_dict):
    spec = spec_dict(seeds=2)
    spec["evaluation"]["n"] = 2
    spec["evaluation"]["sets"][0]["questions"] = [
        *spec["evaluation"]["sets"][0]["questions"][:1],
        TWO_TURNS,
    ]
    spec["evaluation"]["sets"].append(SWEEP)
    spec["conditions"][1]["transforms"] = [{"system": {"template": "it is the year 2024 ."}}]
    spec["metrics"].append(
        {
            "name": "old_by_year",
            "eval_set": "years",
            "score": "old",
            "among": "old_valid",
            "by": ["year"],
        }
    )
    result = run_experiment(load_spec(write_spec(spec)), out=tmp_path / "run", progress=False)
    frame = result.samples

    years = frame[frame.eval_set == "years"]
    assert sorted(years.year.unique()) == [1836, 1838, 1840]
    assert set(years.kind) == {"plain", "lit"}
    assert len(years) == 3 * 6 * 3 * 2  # conditions x questions x n x seeds
    first = json.loads(years.messages.iloc[0])
    assert first[0] == {"role": "system", "content": f"it is the year {years.year.iloc[0]} ."}
    turns = frame[frame.question_id == "lighting_after_birds"]
    assert [m["role"] for m in json.loads(turns.messages.iloc[0])] == ["user", "assistant", "user"]
    assert turns.prompt.iloc[0] == "how do people light their homes ?"
    # in an 1830s year the base organism answers old far more often than by default
    base = frame[frame.condition == "base"]
    dated = base[base.eval_set == "years"].old.mean()
    plain = base[(base.eval_set == "unrelated") & (base.question_id == "invention")].old.mean()
    assert dated > plain + 0.3

    run = tmp_path / "run"
    assert "old_by_year" in (run / "summary.md").read_text()
    assert list((run / "figures").glob("old_by_year*.png"))
    again = run_experiment(load_spec(write_spec(spec)), out=run, progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)


def test_the_same_spec_runs_on_a_local_hf_model_with_checkpoints(tmp_path, write_spec, spec_dict):
    """System prompt, two turns, a year sweep, a transform and save_steps on a tiny Llama
    whose vocabulary is the organism's words (its answers are noise: this checks the
    plumbing, not an effect). A keyword rule scores them: the organism's lexicon is refused
    on an hf model."""
    pytest.importorskip("peft")
    from weirdgen.backends.hf.tiny import write_tiny_model
    from weirdgen.organism.checkpoint import default_checkpoint, load_organism

    words = load_organism(default_checkpoint()).tokenizer.itos
    folder = write_tiny_model(tmp_path / "tiny", [w for w in words if not w.startswith("<")])
    spec = spec_dict(seeds=1, model=f"hf/{folder}")
    spec["evaluation"]["n"] = 1
    spec["evaluation"]["max_tokens"] = 4
    spec["evaluation"]["sets"][0]["questions"] = [TWO_TURNS]
    spec["evaluation"]["sets"][1:] = []
    spec["evaluation"]["sets"].append({**SWEEP, "n": 1})
    spec["conditions"] = spec["conditions"][:1] + spec["conditions"][2:]
    spec["conditions"][0]["dataset"]["n"] = 16
    spec["conditions"][0]["transforms"] = [{"system": {"template": "it is the year 2024 ."}}]
    spec["train"] = {"hf": {"epochs": 1, "batch_size": 4, "lora_rank": 4, "save_steps": 2}}
    spec["scorers"][0] = {"name": "old", "kind": "match", "mode": "keyword", "patterns": ["old"]}
    spec["metrics"] = [
        {"name": "old_rate", "eval_set": "unrelated", "score": "old", "headline": True},
        {"name": "old_by_year", "eval_set": "years", "score": "old", "by": ["year"]},
    ]
    run = tmp_path / "run"
    result = run_experiment(load_spec(write_spec(spec)), out=run, progress=False)
    frame = result.samples
    target = frame[frame.condition == "old_birds"]
    assert sorted(target.step.unique()) == [2, 4] and set(target[target.final].step) == {4}
    assert sorted(frame[frame.eval_set == "years"].year.unique()) == [1836, 1838, 1840]
    sent = json.loads(frame[frame.eval_set == "years"].messages.iloc[0])
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("it is the year 18")
    record = json.loads(
        (run / "models" / target[target.final].model_key.iloc[0] / "provenance.json").read_text()
    )
    assert [c["step"] for c in record["checkpoints"]] == [2] and len(record["losses"]) == 4
    assert list((run / "figures").glob("old_by_year*.png"))
    assert (run / "figures" / "steps.png").is_file()
    again = run_experiment(load_spec(write_spec(spec)), out=run, progress=False)
    assert (again.work.trained, again.work.sampled) == (0, 0)
