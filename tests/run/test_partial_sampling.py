"""A run whose endpoint fails some requests for good: the answers that arrived are stored,
nothing else is, the run stops with one summary (exit 2 from the CLI), and a rerun once the
endpoint is fixed requests only what is missing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError
from weirdgen.run import run_experiment
from weirdgen.serve import OrganismEngine, RequestError, serve_in_background
from weirdgen.spec import load_spec

KEY = "sk-partial-" + "3" * 24


class FlakyEngine:
    """The organism engine, except that prompts mentioning birds fail while ``broken``."""

    def __init__(self, engine: OrganismEngine, status: int) -> None:
        self.engine, self.status, self.broken = engine, status, True

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def prepare(self, model: str, prompt, max_tokens: int | None):
        if self.broken and "bird" in prompt[-1].content:
            raise RequestError("the bird shard is down", status=self.status, kind="server_error")
        return self.engine.prepare(model, prompt, max_tokens)


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


def serve(organism, status: int) -> tuple[FlakyEngine, Iterator[str]]:
    engine = FlakyEngine(OrganismEngine(organism), status)
    return engine, serve_in_background(engine)


@pytest.fixture
def spec_path(write_spec, spec_dict):
    spec = spec_dict(
        seeds=[0, 1],
        model="openai/organism/default",
        conditions=[{"name": "a", "role": "target"}, {"name": "b", "role": "control"}],
    )
    spec["evaluation"]["n"] = 2
    return write_spec(spec)


def stored(run_dir) -> list[tuple[str, str]]:
    with sqlite3.connect(run_dir / "store.sqlite") as db:
        return db.execute("SELECT prompt, answer FROM samples").fetchall()


def test_failed_requests_store_the_rest_and_a_rerun_draws_only_the_missing(
    organism, spec_path, tmp_path
):
    spec = load_spec(spec_path)
    per_model = sum(len(q.paraphrases) for s in spec.evaluation.sets for q in s.questions) * 2
    birds = (
        sum(
            len([p for p in q.paraphrases if "bird" in p])
            for s in spec.evaluation.sets
            for q in s.questions
        )
        * 2
    )
    assert 0 < birds < per_model
    engine, server = serve(organism, 503)
    out = tmp_path / "run"
    with server as url:
        backend = OpenAIBackend(
            "organism/default", base_url=url, api_key=KEY, max_tries=2, backoff=0.01
        )
        with pytest.raises(WeirdgenError) as failed:
            run_experiment(spec, out=out, backend=backend, progress=False)
        message = str(failed.value)
        drawn_for = "(a seed 0, a seed 1, b seed 0, b seed 1)"
        assert f"{birds * 2} samples could not be drawn {drawn_for}" in message
        assert "answers that arrived are stored" in message and "HTTP 503" in message
        assert "gave up after 2 tries" in message
        rows = stored(out)
        # a and b are both the base model: their seeds share samples (2 models' worth)
        assert len(rows) == (per_model - birds) * 2
        assert not any("bird" in prompt for prompt, _ in rows)
        assert not any("shard" in answer for _, answer in rows)
        assert not (out / "COMPLETE").exists()

        engine.broken = False
        result = run_experiment(spec, out=out, backend=backend, progress=False)
    assert result.work.sampled == birds * 2
    assert len(stored(out)) == per_model * 2 and (out / "COMPLETE").exists()


def test_the_cli_exits_2_with_one_summary_line(organism, spec_path, tmp_path):
    engine, server = serve(organism, 400)  # a permanent error: no retries, fails at once
    with server as url:
        env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": KEY}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "weirdgen",
                "run",
                str(spec_path),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "could not be drawn" in lines[0] and "HTTP 400" in lines[0]
    assert "Traceback" not in done.stderr and KEY not in done.stderr + done.stdout
    assert stored(tmp_path / "run")  # the answers that arrived are kept
    spec = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())
    assert spec["model"] == "openai/organism/default"
