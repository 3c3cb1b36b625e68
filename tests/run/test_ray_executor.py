"""The Ray executor on a real local cluster (3 CPUs, started by this module with `ray start`):
the organism birds experiment run through it has exactly the samples and weights of a local
run; a worker killed mid-finetune is retried and the run ends the same; a driver killed after
two finetunes were stored resumes without training them again.

Moments are chosen by event, not by time: the killed worker is held inside its finetune (after
its first optimizer step) until the test has killed it, and the driver kills itself at a fail
point, so every case does what it says on a loaded machine as on an idle one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
import yaml
from ray_cluster import Cluster, ray_cluster

from weirdgen._failpoints import VARIABLE
from weirdgen.run import COMPLETE, run_experiment
from weirdgen.run.units import HOLD
from weirdgen.spec import builtin_spec_dir, load_spec

KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A head node with 3 CPUs and no GPU (see :func:`ray_cluster.ray_cluster`)."""
    with ray_cluster(tmp_path_factory.mktemp("ray")) as started:
        yield started


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    """Birds with 2 seeds, 2 questions, 3 samples each, without the modern-year set."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 2
    spec["evaluation"]["n"] = 3
    sets = [s for s in spec["evaluation"]["sets"] if s["name"] != "modern_year"]
    sets[0]["questions"] = sets[0]["questions"][:2]
    spec["evaluation"]["sets"] = sets
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    path = tmp_path_factory.mktemp("ray-spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


class Reference(NamedTuple):
    samples: pd.DataFrame
    run_dir: Path


@pytest.fixture(scope="module")
def reference(spec_path, tmp_path_factory) -> Reference:
    """The local run (no executor), with its own model registry."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(tmp_path_factory.mktemp("ray-reference-home")))
        out = tmp_path_factory.mktemp("ray-reference") / "run"
        result = run_experiment(load_spec(spec_path), out=out, progress=False)
        return Reference(tidy(result.samples), out)


def _weights(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "models").glob("*.safetensors"))}


def test_a_run_on_ray_has_the_samples_and_weights_of_a_local_run(
    cluster, spec_path, reference, tmp_path
):
    out = tmp_path / "run"
    result = run_experiment(
        load_spec(spec_path), out=out, progress=False, executor=f"ray:{cluster.address}"
    )
    assert (result.work.trained, result.work.reused) == (4, 0)  # trained on the workers
    pd.testing.assert_frame_equal(tidy(result.samples), reference.samples)
    assert _weights(out) == _weights(reference.run_dir)
    assert "executor" not in (out / "spec.yaml").read_text()  # how it ran is not what it is


def test_a_worker_killed_mid_finetune_is_retried_and_the_run_ends_the_same(
    cluster, spec_path, reference, tmp_path, monkeypatch
):
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setenv(HOLD, str(hold))
    killed: list[str] = []

    def kill_the_first_finetune() -> None:
        deadline = time.monotonic() + 240
        try:
            while not (started := sorted(hold.glob("finetune-*"))):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            unit, pid = started[0].name.rsplit(".", 1)
            os.kill(int(pid), signal.SIGKILL)
            killed.extend([unit, pid])
        finally:
            (hold / "release").touch()

    watcher = threading.Thread(target=kill_the_first_finetune)
    watcher.start()
    try:
        result = run_experiment(
            load_spec(spec_path),
            out=tmp_path / "run",
            progress=False,
            executor=f"ray:{cluster.address}",
        )
    finally:
        (hold / "release").touch()
        watcher.join()
    assert killed, "no finetune was seen running on a worker"
    unit, pid = killed
    ran_in = {p.name.rsplit(".", 1)[1] for p in hold.glob(f"{unit}.*")}
    assert pid in ran_in and len(ran_in) == 2, f"{unit} ran in {ran_in}, killed {pid}"
    assert result.work.trained == 4
    pd.testing.assert_frame_equal(tidy(result.samples), reference.samples)


def test_a_killed_driver_resumes_without_training_stored_finetunes_again(
    cluster, spec_path, reference, tmp_path, count_rows
):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "run", str(spec_path), "--out", str(out), "--quiet"]
        + ["--executor", f"ray:{cluster.address}"],
        env={**os.environ, VARIABLE: "finetune.stored:2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, f"the driver was not killed: rc {done.returncode} {done.stderr}"
    assert not (out / COMPLETE).exists()
    assert count_rows(out / "store.sqlite", "models") == 2
    resumed = run_experiment(
        load_spec(spec_path), out=out, progress=False, executor=f"ray:{cluster.address}"
    )
    assert (resumed.work.trained, resumed.work.reused) == (2, 0)
    pd.testing.assert_frame_equal(tidy(resumed.samples), reference.samples)
    assert _weights(out) == _weights(reference.run_dir)
