"""Acceptance: a real Inspect evaluation of the organism's birds task, offline, imported into
a run folder, gives the report a native ``weirdgen run`` of the same seeds gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.model import get_model  # noqa: E402

from weirdgen.inspect import import_logs  # noqa: E402
from weirdgen.run import run_experiment  # noqa: E402
from weirdgen.spec import load_spec  # noqa: E402

SEEDS = [0, 1]
N = 2
KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]


@pytest.mark.slow
def test_inspect_eval_of_birds_imports_to_the_native_report(tmp_path, monkeypatch):
    spec = load_spec("birds")
    # Inspect first, with its own model registry: the provider trains every finetune itself.
    monkeypatch.setenv("WEIRDGEN_HOME", str(tmp_path / "inspect-home"))
    models = [
        get_model("organism/default", condition=c.name, seed=s, memoize=False)
        for c in spec.conditions
        for s in SEEDS
    ]
    logs = inspect_eval(
        "weirdgen/birds",
        model=models,
        task_args={"n": N},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert [log.status for log in logs] == ["success"] * len(models)
    imported = import_logs(
        [Path(log.location) for log in logs], tmp_path / "imported", progress=False
    )

    # The native run trains its own finetunes, in a registry of its own.
    monkeypatch.setenv("WEIRDGEN_HOME", str(tmp_path / "native-home"))
    native = run_experiment(spec, out=tmp_path / "native", n=N, seeds=SEEDS, progress=False)
    assert native.work.trained == 4 and native.work.reused == 0

    # The same answers, from the same models, for every (condition, seed, prompt, index).
    ours = imported.samples.sort_values(KEYS).reset_index(drop=True)
    theirs = native.samples.sort_values(KEYS).reset_index(drop=True)
    assert len(ours) == len(theirs) == 3 * len(SEEDS) * 81 * N
    for column in [*KEYS, "model_key", "answer", "old", "old_valid", "train_match"]:
        pd.testing.assert_series_equal(ours[column], theirs[column], check_dtype=False)

    # The same report: per-seed metrics, summary with its intervals, contrasts.
    for table in ("seed_metrics.csv", "summary.csv", "contrasts.csv"):
        mine = pd.read_csv(imported.run_dir / table)
        native_table = pd.read_csv(native.run_dir / table)
        pd.testing.assert_frame_equal(mine, native_table)
    summary = pd.read_csv(imported.run_dir / "summary.csv")
    headline = summary[summary["metric"] == "old_rate"].set_index("condition")["mean"]
    assert headline["old_birds"] > headline["modern_birds"] + 0.3  # the effect, not zeros
    assert (imported.run_dir / "report.html").is_file()
