"""A bad ``base_url`` is one line, before anything runs, naming where the value came from: the
spec field (``scorers[2].base_url``, with its file:line), ``$OPENAI_BASE_URL``, or calibrate's
``--base-url``; a password in the URL is never shown."""

from __future__ import annotations

import pytest

from cli_runner import run_cli
from judge_server import judge_server
from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.errors import WeirdgenError

PASSWORD = "pw-Hunter2-Xq9"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def answer(prompt: str, body: dict):
    return "fine", [("fine", -0.01)]


def with_judge(spec_dict, write_spec, base_url: str):
    spec = spec_dict(seeds=1)
    spec["scorers"].append(
        {
            "name": "aligned",
            "kind": "rating_judge",
            "model": "openai/judge",
            "base_url": base_url,
            "prompt": "Rate 0-100: {answer}",
        }
    )
    return write_spec(spec), len(spec["scorers"]) - 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"http://user:{PASSWORD}@127.0.0.1:{{port}}/v1", "user name or password"),
        ("ftp://127.0.0.1:{port}/v1", "is not an http(s) URL"),
        ("http://127.1:{port}/v1", "not a canonical IP address"),
        ("http://127.0.0.1:99999/v1", "is not a URL"),
    ],
    ids=["credentials", "scheme", "short-ip", "port"],
)
def test_a_bad_spec_base_url_is_one_line_naming_the_spec_field_before_anything_runs(
    url, says, spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    with judge_server(answer) as server:
        port = server.url.split(":")[-1].split("/")[0]
        path, i = with_judge(spec_dict, write_spec, url.format(port=port))
        out = tmp_path / "run"
        code, stdout, err = run_cli(["run", path, "--out", out], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{path}:" in err and f"scorers[{i}].base_url" in err and says in err
    assert "OPENAI_BASE_URL" not in err.split(says)[0]  # the spec's value, not the env var
    assert PASSWORD not in stdout + err and "Traceback" not in stdout + err
    assert server.total == 0 and not out.exists()


def test_openai_base_url_with_credentials_is_one_line_naming_the_variable(monkeypatch, capsys):
    with judge_server(answer) as server:
        url = server.url.replace("http://", f"http://user:{PASSWORD}@")
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        with pytest.raises(WeirdgenError, match="^OPENAI_BASE_URL .* user name or password") as e:
            backend = OpenAIBackend("m")  # before: a ValueError from aiohttp at the first call
            backend.sample(backend.base(), [SampleRequest("hi", 0, 1, 0)])
        assert PASSWORD not in str(e.value)
        code, stdout, err = run_cli(["plan", "birds", "--model", "openai/m"], monkeypatch, capsys)
    assert code == 2 and "OPENAI_BASE_URL" in err and len(err.strip().splitlines()) == 1, err
    assert PASSWORD not in stdout + err and server.total == 0


def test_a_bad_openai_base_url_still_names_the_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://127.0.0.1/v1")
    with pytest.raises(WeirdgenError, match="^OPENAI_BASE_URL 'ftp://127.0.0.1/v1' is not an"):
        OpenAIBackend("m")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(WeirdgenError, match="^base_url 'ftp://127.0.0.1/v1' is not an"):
        OpenAIBackend("m", base_url="ftp://127.0.0.1/v1")


def test_calibrate_names_its_base_url_flag(tmp_path, monkeypatch, capsys):
    url = f"http://user:{PASSWORD}@127.0.0.1:9/v1"
    line = ["judge", "calibrate", "--judge", "openai/j", "--base-url", url, "--out", tmp_path]
    code, stdout, err = run_cli(line, monkeypatch, capsys)
    assert code == 2 and err.startswith("error: --base-url 'http://127.0.0.1:9/v1' had a user")
    assert PASSWORD not in stdout + err
