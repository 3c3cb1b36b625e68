"""API keys: a server with a key answers only requests bearing it; one reachable from other
machines refuses to start without a key."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import openai
import pytest

from weirdgen.cli.serve import check_api_key, check_exposure
from weirdgen.errors import WeirdgenError
from weirdgen.serve import serve_in_background

KEY = "sk-local-test-key-3141"


@pytest.fixture(scope="module")
def keyed_url(engine):
    with serve_in_background(engine, api_key=KEY) as url:
        yield url


def test_the_right_key_is_served(keyed_url):
    with openai.OpenAI(base_url=keyed_url, api_key=KEY, max_retries=0) as client:
        assert [m.id for m in client.models.list()][0] == "organism/default"
        reply = client.chat.completions.create(
            model="organism/default", messages=[{"role": "user", "content": "name a bird ."}]
        )
        assert reply.choices[0].message.content is not None


@pytest.mark.parametrize("key", ["wrong", KEY + "x", KEY[:-1]])
def test_a_wrong_key_is_a_401_in_openais_shape(keyed_url, key):
    with openai.OpenAI(base_url=keyed_url, api_key=key, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    assert KEY not in str(caught.value.body)


def test_no_key_at_all_is_a_401_on_every_endpoint(keyed_url):
    for path in ("/models", "/files", "/chat/completions"):
        request = urllib.request.Request(keyed_url + path, method="GET")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 401, path
        assert b'"invalid_api_key"' in caught.value.read()


def test_without_a_key_the_server_takes_any(client):
    assert client.models.list().data  # the session's server has no key: api_key="unused"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_needs_no_key(host):
    check_exposure(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_other_hosts_need_a_key(host):
    with pytest.raises(WeirdgenError, match="WEIRDGEN_SERVE_KEY"):
        check_exposure(host, None)
    check_exposure(host, KEY)


def test_the_command_refuses_an_open_host_without_a_key_in_one_line():
    env = {k: v for k, v in os.environ.items() if k != "WEIRDGEN_SERVE_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: --host 0.0.0.0")


@pytest.mark.parametrize("key", ["", " ", "\t\n", " sk-key", "sk-key\n"])
def test_blank_keys_and_keys_with_spaces_around_are_refused(key):
    with pytest.raises(WeirdgenError, match="--api-key"):
        check_api_key(key)
    check_api_key("sk-key")
    check_api_key(None)


@pytest.mark.parametrize(("flags", "env_key"), [(["--api-key", " "], None), ([], " \t ")])
def test_the_command_refuses_a_blank_key_in_one_line(flags, env_key):
    env = {k: v for k, v in os.environ.items() if k != "WEIRDGEN_SERVE_KEY"}
    if env_key is not None:
        env["WEIRDGEN_SERVE_KEY"] = env_key
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: --api-key"), done.stderr
