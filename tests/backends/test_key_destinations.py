"""Where an API key may go: a spec's judge ``base_url`` on another host than OpenAI's API,
loopback or the user's own endpoint never gets the user's ``OPENAI_API_KEY``, and gets the
key its ``api_key_env`` names only when the user passes ``--send-key-to HOST``.

The judge servers are real aiohttp servers on 127.0.0.1 reached by the real client. To stand
for another machine they are named ``*.example.test``: this test's stand-in for DNS (an
/etc/hosts entry, in effect) resolves those names to 127.0.0.1, so a request that is sent
really arrives, with its Authorization header, and a refused one demonstrably never does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from cli_runner import run_cli
from judge_server import JudgeServer, serving
from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.errors import WeirdgenError

USER_KEY = "sk-user-Qw3rTy7uIoP9aSdF"  # the user's OPENAI_API_KEY
JUDGE_KEY = "jk-judge-Zx8cVb2nM4lK6jH0"  # another endpoint's own key
HOST = "judge.example.test"


@pytest.fixture(autouse=True)
def _keys_and_names(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", USER_KEY)
    monkeypatch.setenv("JUDGE_KEY", JUDGE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".example.test"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def rate(prompt: str, body: dict):
    if prompt.startswith("Reply with the number"):  # the judge's number probe
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    return "50", [("50", -0.01)]


class KeyServer(JudgeServer):
    """A judge that also keeps the Authorization header of every request."""

    def __init__(self) -> None:
        super().__init__(rate)
        self.keys: list[str | None] = []

    async def chat(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("Authorization"))
        return await super().chat(request)


@contextmanager
def key_server(host: str = HOST) -> Iterator[KeyServer]:
    """A KeyServer on 127.0.0.1, its ``url`` spelled with ``host``."""
    server = KeyServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    with serving(app) as url:
        server.url = url.replace("127.0.0.1", host)
        yield server


def judged_spec(spec_dict, write_spec, url: str, **judge) -> tuple[Path, int]:
    """A small birds spec with a rating judge at ``url``; its path and the judge's index."""
    spec = spec_dict(seeds=1)
    spec["evaluation"]["n"] = 1
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:1]
    entry = {
        "name": "aligned",
        "kind": "rating_judge",
        "model": "openai/judge",
        "base_url": url,
        "prompt": "Rate 0-100: {answer}",
        **judge,
    }
    spec["scorers"].append(entry)
    return write_spec(spec), len(spec["scorers"]) - 1


@pytest.mark.parametrize(
    ("judge", "flag", "key_var"),
    [
        ({}, [], "OPENAI_API_KEY"),
        ({}, ["--send-key-to", HOST], "OPENAI_API_KEY"),
        ({"api_key_env": "JUDGE_KEY"}, [], "JUDGE_KEY"),
    ],
    ids=["no-api-key-env", "flag-without-api-key-env", "api-key-env-without-flag"],
)
def test_a_spec_base_url_elsewhere_gets_no_key_and_the_run_stops_up_front(
    judge, flag, key_var, spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    with key_server() as server:
        path, i = judged_spec(spec_dict, write_spec, server.url, **judge)
        out = tmp_path / "run"
        code, stdout, err = run_cli(["run", path, "--out", out, *flag], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"scorers[{i}].base_url: {server.url}" in err
    assert key_var in err and f"--send-key-to {HOST}" in err
    assert server.total == 0 and not out.exists()
    assert USER_KEY not in stdout + err and JUDGE_KEY not in stdout + err


def test_with_api_key_env_and_send_key_to_the_judge_gets_that_key_and_never_yours(
    spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    with key_server() as server:
        path, _ = judged_spec(spec_dict, write_spec, server.url, api_key_env="JUDGE_KEY")
        line = ["run", path, "--out", tmp_path / "run", "--quiet", "--send-key-to", HOST]
        code, stdout, err = run_cli(line, monkeypatch, capsys)
    assert code == 0, err
    assert server.total > 0 and set(server.keys) == {f"Bearer {JUDGE_KEY}"}
    assert USER_KEY not in stdout + err


def test_plan_refuses_the_same_and_takes_the_same_flag(
    spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    with key_server() as server:
        path, i = judged_spec(spec_dict, write_spec, server.url, api_key_env="JUDGE_KEY")
        code, _, err = run_cli(["plan", path], monkeypatch, capsys)
        assert code == 2 and f"scorers[{i}].base_url" in err and "JUDGE_KEY" in err, err
        code, stdout, err = run_cli(["plan", path, "--send-key-to", HOST], monkeypatch, capsys)
        assert code == 0 and "aligned" in stdout, err
    assert server.total == 0  # planning calls no model


def test_your_own_endpoints_get_your_key_without_asking(
    spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    # A spec judge on the host (and port) of the user's own OPENAI_BASE_URL:
    with key_server("mine.example.test") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        path, _ = judged_spec(spec_dict, write_spec, server.url)
        code, _, err = run_cli(["plan", path], monkeypatch, capsys)
        assert code == 0, err
    # The endpoint of calibrate's --base-url, which the user typed:
    monkeypatch.delenv("OPENAI_BASE_URL")
    with key_server() as server:
        server.reply = lambda prompt, body: ("OLD", [("OLD", -0.01)])
        line = ["judge", "calibrate", "--judge", "openai/j", "--base-url", server.url]
        line += ["--n", "1", "--out", tmp_path / "cal", "--quiet"]
        code, _, err = run_cli(line, monkeypatch, capsys)
        assert code == 0, err
    assert server.total == 3 and set(server.keys) == {f"Bearer {USER_KEY}"}


@pytest.mark.parametrize(
    ("url", "goes"),
    [
        ("https://api.openai.com/v1", True),
        ("https://API.OpenAI.com:443/v1", True),
        ("http://api.openai.com/v1", False),  # in clear text
        ("https://api.openai.com:8443/v1", False),
        ("https://api.openai.com.example.test/v1", False),
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.0.0.9:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://localhost:8000/v1", True),
        ("http://localhost.example.test/v1", False),
        ("https://judge.example.test/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        ("https://mine.example.test/v1", True),  # the host and port of OPENAI_BASE_URL
        ("https://mine.example.test/other", True),
        ("http://mine.example.test/v1", False),
        ("https://mine.example.test:444/v1", False),
    ],
)
def test_which_endpoints_get_your_key_without_asking(url, goes, monkeypatch):
    from weirdgen.backends.openai.keys import check_key_destination

    monkeypatch.setenv("OPENAI_BASE_URL", "https://mine.example.test/v1")
    if goes:
        check_key_destination(url, "OPENAI_API_KEY", key_named=False)
    else:
        with pytest.raises(WeirdgenError, match="--send-key-to"):
            check_key_destination(url, "OPENAI_API_KEY", key_named=False)


def test_send_key_to_confirms_a_host_for_a_named_key_only_inside_its_block():
    from weirdgen.backends.openai.keys import check_key_destination, send_key_to

    url = f"https://{HOST}/v1"
    with pytest.raises(WeirdgenError, match=f"would receive the key in JUDGE_KEY .*{HOST}"):
        check_key_destination(url, "JUDGE_KEY", key_named=True)
    with send_key_to([HOST.upper()]):
        check_key_destination(url, "JUDGE_KEY", key_named=True)
        with send_key_to(["other.example.test"]):  # nested blocks add up
            check_key_destination(url, "JUDGE_KEY", key_named=True)
        with pytest.raises(WeirdgenError, match="confirms only a key the judge names"):
            check_key_destination(url, "OPENAI_API_KEY", key_named=False)
        with pytest.raises(WeirdgenError):
            check_key_destination("https://else.example.test/v1", "JUDGE_KEY", key_named=True)
    with pytest.raises(WeirdgenError):
        check_key_destination(url, "JUDGE_KEY", key_named=True)


@pytest.mark.parametrize("host", [f"https://{HOST}", f"{HOST}:8443", f"{HOST}/v1", "", "u@h"])
def test_send_key_to_takes_a_host_alone(host, spec_dict, write_spec, monkeypatch, capsys):
    path, _ = judged_spec(spec_dict, write_spec, "http://127.0.0.1:9/v1")
    code, _, err = run_cli(["plan", path, "--send-key-to", host], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--send-key-to" in err and "give the host alone" in err


def test_a_redirect_to_another_origin_does_not_carry_the_key():
    """An allowed endpoint that redirects elsewhere: the client drops the key on the way."""
    with key_server("127.0.0.1") as elsewhere:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"{elsewhere.url}/chat/completions")

        app = web.Application()
        app.router.add_post("/v1/chat/completions", redirect)
        with serving(app) as url:
            backend = OpenAIBackend("judge", base_url=url, max_tries=1)
            answers = backend.sample(backend.base(), [SampleRequest("hi", 0.0, 1, 0)])
    assert answers == ["50"] and elsewhere.keys == [None]
