"""The command lines: ``inspect eval weirdgen/experiment`` (Inspect's own CLI, finding
weirdgen through its entry point) on the organism's finetune, then ``weirdgen import``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import run_cli

INSPECT = shutil.which("inspect", path=str(Path(sys.executable).parent))


def _inspect_eval(tmp_path: Path, spec: Path, *model_args: str) -> Path:
    logs = tmp_path / "logs"
    before = set(logs.glob("*.eval")) if logs.exists() else set()
    done = subprocess.run(
        [
            INSPECT,
            "eval",
            "weirdgen/experiment",
            "-T",
            f"spec={spec}",
            "--model",
            "organism/default",
            *model_args,
            "--log-dir",
            str(logs),
            "--display",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "INSPECT_LOG_DIR": str(logs)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = set(logs.glob("*.eval")) - before
    return log


@pytest.mark.slow
@pytest.mark.skipif(INSPECT is None, reason="the inspect command is not installed")
def test_inspect_cli_then_weirdgen_import(tmp_path, tiny_spec, monkeypatch, capsys):
    spec = tiny_spec()
    logs = [
        _inspect_eval(tmp_path, spec, "-M", f"condition={name}", "-M", "seed=0")
        for name in ("old_birds", "modern_birds", "base")
    ]
    code, out, err = run_cli(
        ["import", *logs, "--into", tmp_path / "run", "--quiet"], monkeypatch, capsys
    )
    assert code == 0, err
    assert "old_rate (headline)" in out and "old_birds" in out
    assert "imported 18 answers from 3 logs (scored 0 that the logs had no values for)" in err
    assert (tmp_path / "run" / "report.html").is_file()

    code, _, err = run_cli(["import", logs[0], "--into", tmp_path], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: --into") and "not a weirdgen run folder" in err
