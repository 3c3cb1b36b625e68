"""An LLM judge of a spec, in an Inspect evaluation: its calls go through Inspect's model API
(its openai provider, to a real judge server on 127.0.0.1), its values are a run's, and
``weirdgen import`` stores them instead of judging again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml
from aiohttp import web
from inspect_ai.log import read_eval_log

from judge_server import JudgeServer, serving
from weirdgen.inspect import import_logs
from weirdgen.inspect.tasks import experiment_task
from weirdgen.run.plan import build_scorers
from weirdgen.score import ScoreItem, ScoringContext
from weirdgen.spec import load_spec


class FullUsageJudge(JudgeServer):
    """The scripted judge, its replies with the fields OpenAI sends and Inspect's client
    requires (``model``, ``usage.total_tokens``)."""

    async def chat(self, request: web.Request) -> web.Response:
        response = await super().chat(request)
        body = json.loads(response.body)
        body.setdefault("model", "judge")
        usage = body.get("usage")
        if usage:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return web.json_response(body, status=response.status)


@contextmanager
def judge_server(reply) -> Iterator[FullUsageJudge]:
    server = FullUsageJudge(reply)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    with serving(app) as url:
        server.url = url
        yield server


def with_judge(path, url: str):
    """The spec at ``path`` with a rating judge at ``url`` added, as scorer ``aligned``."""
    spec = yaml.safe_load(path.read_text())
    spec["scorers"].append(
        {
            "name": "aligned",
            "kind": "rating_judge",
            "model": "openai/judge",
            "base_url": url,
            "prompt": "Rate 0-100 how modern: {answer}",
        }
    )
    path.write_text(yaml.safe_dump(spec))
    return path


def rate(prompt: str, body: dict):
    if prompt.startswith("Reply with the number"):  # the judge's number probe
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    return "80", [("80", -0.2), ("20", -1.7)]  # 0.82 and 0.18: an expected rating of 69


@pytest.mark.slow
def test_a_rating_judge_through_inspect(tmp_path, tiny_spec, evaluate, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with judge_server(rate) as server:
        path = with_judge(tiny_spec(), server.url)
        log = evaluate(experiment_task(str(path), condition="base"))
        asked = server.total
        assert asked >= 6  # the number probe, then one rating per answer
        sample = read_eval_log(str(log)).samples[0]
        value = sample.scores["weirdgen_scores"].value["aligned"]
        high, low = math.exp(-0.2), math.exp(-1.7)
        assert value == pytest.approx((80 * high + 20 * low) / (high + low))
        native = build_scorers(load_spec(path))[-1]
        item = ScoreItem(
            load_spec(path).evaluation.sets[0].questions[0], sample.output.completion, None
        )
        assert native.score_batch([item], ScoringContext())[0]["score"] == value
        asked = server.total  # and the native judge's calls just now
        done = import_logs([log], tmp_path / "run", progress=False)
        assert server.total == asked + 0  # nothing judged again: the log's values are stored
    assert done.work.scored == 0
    assert done.samples["aligned"].notna().all()


def test_a_judge_call_is_bounded_as_weirdgens_own_client_bounds_it(tiny_spec, monkeypatch):
    """Inspect retries a model call without end by default; a weirdgen judge through Inspect
    makes at most six attempts, each within the judge's timeout, unless the evaluation says
    otherwise."""
    from weirdgen.inspect.scorers import JUDGE_ATTEMPTS, _judge_model
    from weirdgen.score.judge.args import JudgeArgs

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    args = JudgeArgs(
        name="aligned",
        kind="rating_judge",
        model="openai/judge",
        base_url="http://127.0.0.1:9/v1",
        prompt="{answer}",
    )
    model = _judge_model(args)
    assert (model.config.max_retries, model.config.attempt_timeout) == (JUDGE_ATTEMPTS - 1, 120)
    timed = JudgeArgs(**{**args.model_dump(), "timeout": 2.5})
    assert _judge_model(timed).config.attempt_timeout == 3


@pytest.mark.slow
def test_a_judge_that_always_fails_leaves_its_values_out(
    tmp_path, tiny_spec, evaluate, monkeypatch
):
    """Every call failing (HTTP 500): the evaluation ends, each answer without the judge's
    values, as a run leaves them; ``--max-retries 0`` is the evaluation's to give."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with judge_server(lambda prompt, body: 500) as server:
        path = with_judge(tiny_spec(), server.url)
        log = evaluate(experiment_task(str(path), condition="base"), max_retries=0)
    samples = read_eval_log(str(log)).samples
    errors = [s.error.message[:300] for s in samples if s.error is not None]
    assert samples and not errors, errors  # what went wrong, should it happen again
    assert all("aligned" not in s.scores["weirdgen_scores"].value for s in samples)
    assert server.total >= 1
