"""A run whose rating judge cannot be probed: it fails, keeps nothing of that judge, and a
rerun once the judge answers rates by logprobs (a scripted judge server on 127.0.0.1)."""

from __future__ import annotations

import math

import pytest

import weirdgen
from judge_server import judge_server
from weirdgen.errors import WeirdgenError

RATE = "Rate 0-100 how modern this is.\nQ: {question}\nA: {answer}"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def test_a_failed_number_probe_fails_the_run_and_the_rerun_rates_by_logprobs(
    spec_dict, write_spec, tmp_path
):
    down = {"probe": True}

    def reply(prompt: str, body: dict):
        if prompt.startswith("Reply with the number"):
            if down["probe"]:
                return 500
            number = prompt.split()[4]
            return number, [(number, -0.01)]
        return "70", [("70", math.log(0.6)), ("20", math.log(0.35))]

    with judge_server(reply) as server:
        spec = spec_dict(name="probed", seeds=1)
        spec["evaluation"]["n"] = 2
        spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
        spec["scorers"].append(
            {
                "name": "modern",
                "kind": "rating_judge",
                "model": "openai/judge",
                "base_url": server.url,
                "prompt": RATE,
            }
        )
        path = write_spec(spec, name="probed.yaml")
        with pytest.raises(WeirdgenError, match="2 calls of judge 'modern' failed") as failed:
            weirdgen.run_experiment(weirdgen.load_spec(path), out=tmp_path / "r", progress=False)
        assert "none answered; run the same command again once the judge answers" in str(
            failed.value
        )
        assert all(p.startswith("Reply with the number") for p in server.prompts)

        down["probe"] = False
        done = weirdgen.run_experiment(weirdgen.load_spec(path), out=tmp_path / "r", progress=False)
    frame = done.samples
    pairs = len(frame[["prompt", "answer"]].drop_duplicates())
    assert done.work.sampled == 0  # the answers were kept; only the judging was not
    assert done.work.judged["modern"]["made"] == 2 + pairs  # the probe, then logprob calls
    assert (frame["modern_method"] == "logprobs").all()
    assert frame["modern"].eq((70 * 0.6 + 20 * 0.35) / 0.95).all()
