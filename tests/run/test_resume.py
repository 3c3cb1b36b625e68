"""The store: reruns recompute nothing, a killed run resumes to identical results, --n adds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from weirdgen.run import COMPLETE, run_experiment
from weirdgen.spec import load_spec

KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


def test_finished_rerun_computes_nothing(tmp_path, small_birds):
    spec = load_spec(small_birds)
    first = run_experiment(spec, out=tmp_path / "run", progress=False)
    assert first.work.trained == 4  # two finetuned conditions x two seeds
    assert first.work.sampled == len(first.samples) > 0
    again = run_experiment(spec, out=tmp_path / "run", progress=False)
    assert (again.work.trained, again.work.sampled, again.work.scored) == (0, 0, 0)
    pd.testing.assert_frame_equal(tidy(again.samples), tidy(first.samples))


def test_raising_n_keeps_old_samples_and_draws_only_new_ones(tmp_path, small_birds):
    spec = load_spec(small_birds)
    small = run_experiment(spec, out=tmp_path / "run", progress=False)
    more = run_experiment(spec, out=tmp_path / "run", n=5, progress=False)
    assert more.work.trained == 0
    assert more.work.sampled == len(more.samples) - len(small.samples)
    kept = more.samples[more.samples.sample_index < 3]
    pd.testing.assert_frame_equal(tidy(kept), tidy(small.samples))


def test_changing_the_recipe_retrains_only_finetuned_conditions(tmp_path, small_birds):
    spec = load_spec(small_birds)
    run_experiment(spec, out=tmp_path / "run", progress=False)
    recipe = spec.train.organism.model_copy(update={"lr": 1e-4})
    changed = spec.model_copy(update={"train": spec.train.model_copy(update={"organism": recipe})})
    rerun = run_experiment(changed, out=tmp_path / "run", progress=False)
    assert rerun.work.trained == 4
    base_rows = (rerun.samples.condition == "base").sum()
    assert rerun.work.sampled == len(rerun.samples) - base_rows


def _kill_when(out: Path, spec: Path, table: str, at_least: int, count_rows) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "run", str(spec), "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while count_rows(out / "store.sqlite", table) < at_least:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / COMPLETE).exists()


def test_run_killed_mid_way_resumes_to_identical_results(
    tmp_path, write_spec, spec_dict, count_rows
):
    spec_doc = spec_dict(seeds=3)
    spec_doc["evaluation"]["n"] = 3
    path = write_spec(spec_doc)
    spec = load_spec(path)
    reference = run_experiment(spec, out=tmp_path / "uninterrupted", progress=False)

    killed = tmp_path / "killed"
    _kill_when(killed, path, "models", 2, count_rows)  # during finetuning
    _kill_when(killed, path, "samples", 1, count_rows)  # during sampling
    resumed = run_experiment(spec, out=killed, progress=False)
    assert resumed.work.trained < reference.work.trained
    assert resumed.work.sampled < reference.work.sampled
    assert (killed / COMPLETE).exists()
    pd.testing.assert_frame_equal(tidy(resumed.samples), tidy(reference.samples))
