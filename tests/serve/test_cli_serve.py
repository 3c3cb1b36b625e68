"""The ``weirdgen serve`` command: flags, bad input, and a real start on a free port."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest
import typer
from safetensors.torch import save_file
from typer.testing import CliRunner

from weirdgen.cli.serve import parse_adapters, register, serve
from weirdgen.errors import WeirdgenError

# The command registered on an app of its own (the weirdgen app wires it the same way).
LAUNCH = (
    "import typer; from weirdgen.cli.serve import register; "
    "app = typer.Typer(); register(app); app()"
)


def test_help_names_every_flag():
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands, so `serve` is addressed by name
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--model", "--host", "--port", "--adapter", "--batch-window-ms", "--max-batch"):
        assert flag in result.output


@pytest.mark.parametrize("spec", ["noisy", "=x.safetensors", "noisy="])
def test_malformed_adapter_flags_say_how_to_write_them(spec):
    with pytest.raises(WeirdgenError, match="NAME=PATH"):
        parse_adapters([spec])


def test_adapter_flags_are_parsed_and_checked(tmp_path):
    assert parse_adapters(["a = x.safetensors", "b=/m/b.safetensors"]) == {
        "a": Path("x.safetensors"),
        "b": Path("/m/b.safetensors"),
    }
    with pytest.raises(WeirdgenError, match="given twice"):
        parse_adapters(["a=x", "a=y"])
    with pytest.raises(WeirdgenError, match="no such file"):
        serve(adapter=[f"a={tmp_path / 'missing.safetensors'}"], port=0)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(WeirdgenError, match="not weights of a finetune"):
        serve(adapter=[f"a={bad}"], port=0)
    with pytest.raises(WeirdgenError):
        serve(model="openai/gpt-4o", port=0)


def test_the_command_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert select.select([process.stdout], [], [], 60)[0], "no URL printed within 60 s"
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), process.stderr.read()
        with urllib.request.urlopen(f"{url}/models", timeout=10) as response:
            assert json.loads(response.read())["data"][0]["id"] == "organism/default"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130  # as after Ctrl-C in any command
        stderr = process.stderr.read()
        assert "serving organism/default" in stderr and "stopped (SIGINT)" in stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--port", "-1"),
        ("--port", "65536"),
        ("--max-batch", "0"),
        ("--batch-window-ms", "-1"),
        ("--batch-window-ms", "1e9"),
        ("--max-queued", "0"),
        ("--min-job-seconds", "-1"),
        ("--max-upload-mb", "0"),
        ("--max-files", "0"),
        ("--max-jobs", "0"),
        ("--max-examples", "0"),
        ("--max-n-epochs", "0"),
        ("--max-batch-size", "0"),
        ("--max-learning-rate-multiplier", "0"),
        ("--max-trained-examples", "-3"),
        ("--max-stored-mb", "0"),
        ("--max-concurrent-checks", "0"),
        ("--max-connections", "0"),
        ("--header-timeout", "0"),
    ],
)
def test_flags_out_of_range_are_usage_errors(flag, value):
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["serve", flag, value], env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}'" in result.output, result.output


def start_serving(*flags: str) -> tuple[subprocess.Popen, str]:
    """``python -m weirdgen serve --port 0 FLAGS`` and the URL it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "serve", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    if not select.select([process.stdout], [], [], 60)[0]:
        process.kill()
        raise AssertionError(f"no URL printed within 60 s: {process.communicate()}")
    return process, process.stdout.readline().strip()


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_server_within_seconds_while_a_job_trains(
    signum, status, birds_jsonl, wait_for
):
    process, url = start_serving("--verbose")
    try:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        file_id = client.files.create(file=("d.jsonl", birds_jsonl(500)), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(  # 50,000 steps: minutes of training
            model="organism/default",
            training_file=file_id,
            hyperparameters={"n_epochs": 100, "batch_size": 1},
        )
        running = lambda: client.fine_tuning.jobs.retrieve(job.id).status == "running"  # noqa: E731
        wait_for(running, 60, "the job running")
        time.sleep(1.0)  # into its training steps
        assert process.poll() is None
        signalled = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=15) == status
        assert time.monotonic() - signalled < 10
        stderr = process.stderr.read()
        assert "Traceback" not in stderr and f"stopped ({signum.name})" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_adapter_with_nan_weights_is_refused(organism, tmp_path):
    state = {k: v.clone().contiguous() for k, v in organism.organism.model.state_dict().items()}
    first = next(iter(state))
    state[first].view(-1)[0] = float("nan")  # a finetune that diverged, saved anyway
    path = tmp_path / "diverged.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeirdgenError, match="NaN or infinite values .* lower learning rate"):
        serve(adapter=[f"nan={path}"], port=0)


def test_the_command_module_loads_no_torch_or_aiohttp():
    """`weirdgen --help` stays fast: the serve command reads its limits without the server."""
    check = "import sys, weirdgen.cli.serve; print(sorted({'torch', 'aiohttp'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr
