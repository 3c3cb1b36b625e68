"""The acceptance run: ``weirdgen run birds --model hf/PATH`` on a tiny local Llama whose
vocabulary is the organism's words, from the command line, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.organism.checkpoint import default_checkpoint, load_organism  # noqa: E402


def test_weirdgen_run_birds_on_a_local_hf_model(tmp_path):
    words = load_organism(default_checkpoint()).tokenizer.itos
    folder = write_tiny_model(tmp_path / "tiny-llama", [w for w in words if not w.startswith("<")])
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "weirdgen",
        "run",
        "birds",
        "--model",
        f"hf/{folder}",
        "--seeds",
        "2",
        "--n",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert "computed: 4 finetunes" in done.stderr
    assert (out / "COMPLETE").is_file() and (out / "report.html").is_file()
    samples = pd.read_parquet(out / "samples.parquet")
    assert set(samples.condition) == {"old_birds", "modern_birds", "base"}
    assert set(samples.seed) == {0, 1} and len(samples) == 3 * 2 * (39 + 3 + 39)  # 3 sets
    assert samples.model_key.str.startswith("hf-").all()
    adapters = sorted(p for p in (out / "models").iterdir())
    assert len(adapters) == 4
    provenance = json.loads((adapters[0] / "provenance.json").read_text())
    assert provenance["extra"]["base_folder"] == str(folder)
    assert provenance["recipe"]["method"] == "lora" and provenance["backend"] == "hf"
    assert pd.read_csv(out / "summary.csv").condition.nunique() == 3
    # Run again: everything is stored, nothing is computed.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "computed: 0 finetunes, 0 samples" in again.stderr
