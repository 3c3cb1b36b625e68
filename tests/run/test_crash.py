"""Crash safety at chosen moments: `weirdgen run` is SIGKILLed at ten fail points (during
finetuning, sampling, scoring, report writing and in the middle of atomic writes); each
rerun ends with exactly the results of an uninterrupted run and leaves no temporary file.

The moments are chosen by event, not by time (see ``weirdgen._failpoints``), so every case
kills the run where it says, on a loaded machine as on an idle one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from weirdgen._failpoints import VARIABLE
from weirdgen.run import COMPLETE, run_experiment
from weirdgen.spec import builtin_spec_dir, load_spec

KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]

# Atomic writes of a fresh run, in order: spec.yaml, the two conditions' datasets, each of
# the four finetunes' weights then its provenance record, then the report (samples.parquet
# first).
MOMENTS = {
    "mid-finetuning, weights saved but not stored": ["finetune.trained:2"],
    "after three finetunes were stored": ["finetune.stored:3"],
    "answers drawn but not yet stored": ["sample.drawn:1"],
    "mid-sampling": ["sample.stored:3"],
    "after the last model was sampled": ["sample.stored:6"],
    "mid-scoring": ["score.stored:1"],
    "as the report starts": ["report.started"],
    "mid atomic write of a finetune's weights": ["atomic.written:6"],
    "mid atomic write of samples.parquet": ["atomic.written:12"],
    "killed twice: mid-sampling, then mid-scoring of the rerun": [
        "sample.stored:2",
        "score.stored:1",
    ],
}


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 2
    spec["evaluation"]["n"] = 2
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    path = tmp_path_factory.mktemp("crash-spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def reference(spec_path, tmp_path_factory) -> pd.DataFrame:
    """The uninterrupted run's samples (with its own registry, not the user's)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(tmp_path_factory.mktemp("crash-home")))
        out = tmp_path_factory.mktemp("crash-reference") / "run"
        return tidy(run_experiment(load_spec(spec_path), out=out, progress=False).samples)


def _killed_run(spec_path: Path, out: Path, point: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "run", str(spec_path), "--out", str(out), "--quiet"],
        env={**os.environ, VARIABLE: point},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, f"not killed at {point}: rc {done.returncode} {done.stderr}"
    assert not (out / COMPLETE).exists()


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_run_killed_at_a_chosen_moment_resumes_to_identical_results(
    moment, spec_path, reference, tmp_path
):
    out = tmp_path / "run"
    temporaries = 0
    for point in MOMENTS[moment]:
        _killed_run(spec_path, out, point)
        temporaries += len(list(out.rglob(".*.tmp")))
    if any(point.startswith("atomic.") for point in MOMENTS[moment]):
        assert temporaries > 0, "the kill was meant to leave a temporary file behind"
    resumed = run_experiment(load_spec(spec_path), out=out, progress=False)
    assert (out / COMPLETE).exists()
    assert list(out.rglob(".*.tmp")) == []
    pd.testing.assert_frame_equal(tidy(resumed.samples), reference)
    again = run_experiment(load_spec(spec_path), out=out, progress=False)
    assert (again.work.trained, again.work.sampled, again.work.scored) == (0, 0, 0)
