"""A spec with a system prompt, a two-turn question, a vary: year sweep and a dataset
transform runs end to end on the organism; the tidy table carries each question's metadata
and the messages sent, and a metric by year is reported as a curve."""

from __future__ import annotations

import json

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
            "among": "valid",
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
