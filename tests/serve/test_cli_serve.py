"""The ``weirdgen serve`` command: flags, bad input, and a real start on a free port."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import typer
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
        assert process.wait(timeout=30) == 0
        assert "serving organism/default" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
