"""Judging as Ray units on a real local cluster (3 CPUs, started by this module): an organism
run scored by two LLM judges on a scripted OpenAI-compatible server (127.0.0.1) gives through
the cluster the judgments, scores and summary of a local run; the judge calls are made by
worker processes with the key the spec names, which the workers' own environment lacks and
which no file of the cluster, the run or the registry holds; a driver killed after some
judgments were stored resumes without asking the judge for them again.

Moments are chosen by event: the driver kills itself at a fail point reached after a unit's
replies were stored in the judge cache, and the judge units say which process ran them.
"""

from __future__ import annotations

import math
import os
import pickle
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
import yaml
from aiohttp import web
from ray_cluster import Cluster, ray_cluster

from judge_server import JudgeServer, serving
from weirdgen._failpoints import VARIABLE
from weirdgen.backends.protocol import as_chat
from weirdgen.run import COMPLETE, run_experiment
from weirdgen.run.units import HOLD, judge_unit, judge_units
from weirdgen.score.judge import RatingJudge, RatingJudgeArgs
from weirdgen.score.judge.calls import make_call
from weirdgen.spec import builtin_spec_dir, load_spec

KEY_VAR = "WEIRDGEN_TEST_JUDGE_KEY"
KEYS = ["condition", "seed", "eval_set", "question_id", "paraphrase_index", "sample_index"]
RATE = "Rate 0-100 how modern this is.\nQ: {question}\nA: {answer}"
LABEL = "Is this answer old-fashioned? TRUE or FALSE.\nQ: {question}\nA: {answer}"


def reply(prompt: str, body: dict):
    """The scripted judge: the number probe repeated, a rating and a label from logprobs."""
    if prompt.startswith("Reply with the number"):
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    answer = prompt.rsplit("A: ", 1)[-1]
    if prompt.startswith("Rate"):
        high = len(answer) % 2 == 0
        return "70", [("70", math.log(0.6 if high else 0.3)), ("20", math.log(0.35))]
    p = 0.8 if "the" in answer else 0.3
    return ("TRUE" if p > 0.5 else "FALSE"), [("TRUE", math.log(p)), ("FALSE", math.log(1 - p))]


class Judge(NamedTuple):
    server: JudgeServer
    keys: list[str | None]
    """The Authorization header of every request, in order."""


@contextmanager
def judge_with_keys() -> Iterator[Judge]:
    """The scripted judge on 127.0.0.1, recording the key each request carries."""
    server, keys = JudgeServer(reply), []

    @web.middleware
    async def record(request: web.Request, handler):
        keys.append(request.headers.get("Authorization"))
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_post("/v1/chat/completions", server.chat)
    with serving(app) as url:
        server.url = url
        yield Judge(server, keys)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


def judgments(home: Path) -> dict[str, str]:
    """The judge cache of a registry: each call's stored response, by call key."""
    with closing(sqlite3.connect(home / "registry.sqlite")) as db:
        return dict(db.execute("SELECT key, response_json FROM judgments"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A head node with 3 CPUs whose workers do not have the judge's key variable."""
    with ray_cluster(tmp_path_factory.mktemp("ray"), cpus=3, unset=[KEY_VAR]) as started:
        yield started


@pytest.fixture(scope="module")
def judge() -> Iterator[Judge]:
    with judge_with_keys() as started:
        yield started


@pytest.fixture(scope="module")
def key() -> str:
    return "sk-test-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory, judge) -> Path:
    """Birds with 1 seed, 2 questions, 2 samples each, judged by a rating and a label judge
    whose key is in KEY_VAR."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 1
    spec["evaluation"]["n"] = 2
    sets = [s for s in spec["evaluation"]["sets"] if s["name"] != "modern_year"]
    sets[0]["questions"] = sets[0]["questions"][:2]
    spec["evaluation"]["sets"] = sets
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    endpoint = {"model": "openai/judge", "base_url": judge.server.url, "api_key_env": KEY_VAR}
    spec["scorers"] += [
        {"name": "modern", "kind": "rating_judge", "prompt": RATE, **endpoint},
        {"name": "oldish", "kind": "label_judge", "prompt": LABEL, "labels": ["TRUE", "FALSE"]}
        | endpoint,
    ]
    rating = {"name": "modern_rating", "eval_set": "unrelated", "score": "modern"}
    spec["metrics"].append({**rating, "among": "modern_valid"})
    path = tmp_path_factory.mktemp("ray-judging-spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


class Reference(NamedTuple):
    samples: pd.DataFrame
    summary: str
    judgments: dict[str, str]
    calls: int
    judged: dict


@pytest.fixture(scope="module")
def reference(spec_path, judge, key, tmp_path_factory) -> Reference:
    """The local run (no executor), with its own registry and judge cache."""
    home = tmp_path_factory.mktemp("ray-judging-reference-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(home))
        patch.setenv(KEY_VAR, key)
        before = judge.server.total
        out = tmp_path_factory.mktemp("ray-judging-reference") / "run"
        result = run_experiment(load_spec(spec_path), out=out, progress=False)
    summary = (out / "summary.md").read_text()
    calls = judge.server.total - before
    return Reference(tidy(result.samples), summary, judgments(home), calls, result.work.judged)


def test_a_judge_unit_asks_what_the_driver_would_with_the_key_it_carries_unshown(
    judge, key, monkeypatch
):
    monkeypatch.setenv(KEY_VAR, key)
    endpoint = {"model": "openai/judge", "base_url": judge.server.url, "api_key_env": KEY_VAR}
    args = RatingJudgeArgs(name="modern", prompt=RATE, **endpoint)
    caller = RatingJudge(args).caller
    chats = [as_chat(RATE.format(question="q ?", answer=a)) for a in ("a", "bb", "ccc")]
    calls = [make_call(caller.model.key, chat, 0.0, 1, True) for chat in chats]
    units = judge_units(caller, calls, slots=2)
    assert [len(u.calls) for u in units] == [2, 1]
    assert units[0].endpoint.concurrency == caller.backend.max_concurrency // 2  # shared
    assert key not in repr(units) and key not in str(units[0].endpoint.key)

    units = pickle.loads(pickle.dumps(units))  # as Ray sends them
    monkeypatch.delenv(KEY_VAR)  # a worker's environment
    before = len(judge.keys)
    replies = {}
    for unit in units:
        outcome = judge_unit(unit)
        assert outcome.error is None, outcome.error
        replies.update(outcome.value.replies)
    assert set(judge.keys[before:]) == {f"Bearer {key}"}
    assert replies == caller.send(calls).replies and len(replies) == 3

    other = replace(units[0], ref=replace(units[0].ref, key="openai-0000000000000000"))
    assert "differs from the driver's" in judge_unit(other).error


def test_a_judge_unit_of_a_local_model_loads_it_on_the_worker_and_asks_what_the_driver_would(
    tmp_path,
):
    pytest.importorskip("transformers")
    from weirdgen.backends.hf.tiny import write_tiny_model

    words = ["rate", "the", "answer", ":", "q", "?", "a", "bb", *map(str, range(101))]
    folder = write_tiny_model(tmp_path / "m", words)
    args = RatingJudgeArgs(name="local", model=f"hf/{folder}", prompt="rate the answer : {answer}")
    caller = RatingJudge(args).caller
    chats = [as_chat(f"rate the answer : {a}") for a in ("a", "bb")]
    calls = [make_call(caller.model.key, chat, 0.0, 1, True) for chat in chats]
    (unit,) = judge_units(caller, calls, slots=1)
    assert unit.endpoint is None  # no server: the worker loads hf/<folder> itself
    outcome = judge_unit(pickle.loads(pickle.dumps(unit)))
    assert outcome.error is None, outcome.error
    assert outcome.value.replies == caller.send(calls).replies and len(outcome.value.replies) == 2


def test_judging_on_ray_gives_the_local_judgments_from_workers_with_the_specs_key(
    cluster, spec_path, reference, judge, key, tmp_path, monkeypatch, _private_registry
):
    monkeypatch.setenv(KEY_VAR, key)
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "release").touch()  # units say which process ran them and go on at once
    monkeypatch.setenv(HOLD, str(hold))
    before, asked = judge.server.total, len(judge.keys)
    out = tmp_path / "run"
    result = run_experiment(
        load_spec(spec_path), out=out, progress=False, executor=f"ray:{cluster.address}"
    )
    assert judge.server.total - before == reference.calls > 0  # the judge saw every call
    assert result.work.judged == reference.judged
    pd.testing.assert_frame_equal(tidy(result.samples), reference.samples)
    assert {"modern", "modern_nonnumeric", "oldish_label", "oldish_p"} <= set(result.samples)
    assert (out / "summary.md").read_text() == reference.summary
    assert judgments(_private_registry) == reference.judgments  # what the driver cached

    units = [p.name.rsplit(".", 1) for p in hold.glob("judge-*")]
    assert len(units) >= 4, units  # the probe and each judge's answers, spread over workers
    assert str(os.getpid()) not in {pid for _, pid in units}  # the driver asked nothing
    assert set(judge.keys[asked:]) == {f"Bearer {key}"}

    for folder in (cluster.temp, out, _private_registry):
        holding = [
            p
            for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink() and key.encode() in p.read_bytes()
        ]
        assert not holding, f"the judge's key was written to {holding}"


def test_a_killed_driver_does_not_ask_the_judge_again_for_stored_judgments(
    cluster, spec_path, reference, judge, key, tmp_path, monkeypatch, _private_registry
):
    monkeypatch.setenv(KEY_VAR, key)
    out = tmp_path / "run"
    before = judge.server.total
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", "run", str(spec_path), "--out", str(out), "--quiet"]
        + ["--executor", f"ray:{cluster.address}"],
        env={**os.environ, VARIABLE: "judge.stored:3"},  # the probe's 2 units, then 1 more
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, f"the driver was not killed: rc {done.returncode} {done.stderr}"
    assert not (out / COMPLETE).exists()
    stored = len(judgments(_private_registry))
    assert 2 < stored < reference.calls
    assert judge.server.total - before >= stored  # units still running may have asked more

    again = judge.server.total
    resumed = run_experiment(
        load_spec(spec_path), out=out, progress=False, executor=f"ray:{cluster.address}"
    )
    assert judge.server.total - again == reference.calls - stored
    assert resumed.work.judged["modern"]["cached"] == stored  # killed while judging modern
    pd.testing.assert_frame_equal(tidy(resumed.samples), reference.samples)
    assert judgments(_private_registry) == reference.judgments
