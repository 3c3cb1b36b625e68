"""Ctrl-C and SIGTERM during `weirdgen run`: one line saying what was kept, exit 130 or 143,
no traceback, no COMPLETE; the same command then resumes to the uninterrupted results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from weirdgen._failpoints import VARIABLE
from weirdgen.run import COMPLETE, run_experiment
from weirdgen.spec import load_spec

KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_sampling_exits_with_one_line_and_the_rerun_resumes(
    signum, code, tmp_path, small_birds, count_rows
):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "weirdgen", "run", str(small_birds), "--out", str(out)]
    proc = subprocess.Popen(  # it waits after storing its first samples: a signal then
        [*command, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, VARIABLE: "sample.stored:1:pause"},
        # A shell that starts the test suite in the background ignores SIGINT, and children
        # inherit that: restore the default so the run gets Ctrl-C as from a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while count_rows(out / "store.sqlite", "samples") < 1:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, f"{stdout}\n{stderr}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("interrupted during sample; "), lines[0]
    assert str(out) in lines[0] and "run the same command again to resume" in lines[0]
    assert "report:" not in stdout
    assert not (out / COMPLETE).exists()

    spec = load_spec(small_birds)
    resumed = run_experiment(spec, out=out, progress=False)
    assert resumed.work.trained == 0
    reference = run_experiment(spec, out=tmp_path / "reference", progress=False)
    pd.testing.assert_frame_equal(
        resumed.samples.sort_values(KEYS).reset_index(drop=True),
        reference.samples.sort_values(KEYS).reset_index(drop=True),
    )


def test_the_command_puts_back_the_sigterm_handler_it_found(tmp_path, small_birds):
    """In-process (a test, a notebook, another program): SIGTERM is the run's only while it
    runs; the handler before it is in place again after, whether the run ended or failed."""
    from typer.testing import CliRunner

    from weirdgen.cli import app

    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        runner = CliRunner()
        missing = runner.invoke(app, ["run", str(tmp_path / "no-such.yaml"), "--quiet"])
        assert missing.exit_code != 0
        assert signal.getsignal(signal.SIGTERM) is mine
        done = runner.invoke(
            app, ["run", str(small_birds), "--out", str(tmp_path / "run"), "--quiet"]
        )
        assert done.exit_code == 0, done.output
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


HALF_MADE = """
import asyncio, sys, warnings
import weirdgen.cli as cli
from weirdgen.errors import Interrupted

class HalfBuiltLoop(asyncio.SelectorEventLoop):
    def __init__(self):  # stopped by Ctrl-C before the loop made its self-pipe
        pass

async def never_awaited():
    pass

def interrupted_command():
    loop, coroutine = HalfBuiltLoop(), never_awaited()  # let go only with this frame
    raise Interrupted("interrupted while judging: 3 of 9 answers judged")

warnings.simplefilter("default")  # as `python -X dev` would show them
cli.app = lambda standalone_mode: interrupted_command()
cli.main()
"""


def test_what_an_interrupt_left_half_made_adds_nothing_to_its_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HALF_MADE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 130
    assert done.stderr.splitlines() == ["interrupted while judging: 3 of 9 answers judged"]
