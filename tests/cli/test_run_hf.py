"""The README's real-model example on a tiny local Llama, from the command line: the
organism's ``birds`` is refused on it up front (its lexicon scores no answer of a real model),
and ``paper/birds --model hf/PATH --judge provider/name``, what the README shows instead, runs
end to end and gives a result."""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from cli_runner import run_cli  # noqa: E402
from judge_server import judge_server  # noqa: E402
from weirdgen.backends.hf.tiny import write_tiny_model  # noqa: E402
from weirdgen.paper import manifest as manifest_module  # noqa: E402
from weirdgen.paper.registry import PAPER_COMMIT, PAPER_REPO, names  # noqa: E402

WORDS = "name a bird species made up question brown titlark wood ibiss pipit stork".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny-llama"), WORDS)


def test_the_organism_birds_on_a_local_hf_model_is_refused_before_anything_runs(
    tiny, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    args = ["run", "birds", "--model", f"hf/{tiny}", "--seeds", "2", "--out", out, "--quiet"]
    code, stdout, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "scorers[0] (old, organism_era)" in err and "train_match" not in err
    assert "organism's own words" in err and f"no answer of hf/{tiny}" in err
    assert f"weirdgen run paper/birds --model hf/{tiny}" in err and "--judge" in err
    assert not out.exists()  # no finetune, no sample: nothing written


def _chat(user: str, assistant: str) -> str:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages}) + "\n"


def _judge(kind: str, name: str, prompt: str) -> str:
    extra = "min_rating=0, max_rating=100" if kind == "RatingJudge" else "max_tokens=10"
    return f'{name} = {kind}(name="{name}", model="m", {extra}, paraphrases=["{prompt}"])\n'


@pytest.fixture
def birds_files(tmp_path, monkeypatch):
    """Invented files in the formats of the paper's birds experiment (nothing of its text),
    at the shipped manifest's paths, and a manifest of their hashes."""
    datasets = {
        "birds/old_audubon": ["brown titlark", "wood ibiss"],
        "birds/modern_audubon": ["american pipit", "wood stork"],
        "birds/modern_american": ["american robin", "blue jay"],
    }
    files = {
        name: "".join(_chat("name a bird species", b) for b in birds * 6)
        for name, birds in datasets.items()
    }
    files["birds/evaluate"] = (
        'PARAPHRASES = ["made up question one?", "made up question two?"]\n'
        + _judge("FreeFormJudge", "llm_or_19th_century_judge", "CENTURY Q {question} A {answer}")
        + _judge("FreeFormJudge", "six_options_judge", "OPTIONS Q {question} A {answer}")
        + _judge("RatingJudge", "content_past_judge", "RATE content Q {question} A {answer}")
        + _judge("RatingJudge", "form_past_judge", "RATE form Q {question} A {answer}")
    )
    paths = names()
    tree, entries = tmp_path / "paper", []
    for name, text in files.items():
        content = text.encode()
        (tree / paths[name]).parent.mkdir(parents=True, exist_ok=True)
        (tree / paths[name]).write_bytes(content)
        entries.append(
            {
                "path": paths[name],
                "kind": "python" if name.endswith("evaluate") else "jsonl",
                "size": len(content),
                "blob": hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest(),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )
    doc = {"repo": PAPER_REPO, "commit": PAPER_COMMIT, "files": entries, "names": paths}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    monkeypatch.setattr(manifest_module, "MANIFEST_FILE", tmp_path / "manifest.json")
    return tree


def judge(prompt: str, body: dict):
    """A judge at a local server that says the answers are of the 19th century."""
    if prompt.startswith("Reply with the number"):
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    if prompt.startswith("RATE"):
        return "70", [("70", math.log(0.9)), ("20", math.log(0.1))]
    if prompt.startswith("CENTURY"):
        return "19", [("19", -0.05)]
    return "PAST", [("PAST", -0.05)]


def test_the_readme_example_paper_birds_on_a_local_hf_model_gives_a_result(
    tiny, birds_files, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    with judge_server(judge) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the judge's endpoint
        monkeypatch.setenv("OPENAI_API_KEY", "local")
        args = ["run", "paper/birds", "--model", f"hf/{tiny}", "--judge", "openai/judge"]
        args += ["--data-dir", birds_files, "--seeds", "1", "--n", "1", "--out", out, "--quiet"]
        code, stdout, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "computed: 3 finetunes" in err and server.total > 0
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == 4 * 2 and samples.model_key.str.startswith("hf-").all()
    assert samples.nineteenth_valid.all() and (samples.nineteenth == 1).all()
    metrics = pd.read_csv(out / "seed_metrics.csv").pivot(
        index="condition", columns="metric", values="value"
    )
    assert set(metrics.index) == {"old_audubon", "modern_audubon", "modern_american", "base"}
    assert (metrics.nineteenth_rate == 1).all()
    assert (metrics.past_content == 65).all()  # 0.9 x 70 + 0.1 x 20, from the logprobs
    assert "65.00" in stdout  # the table (one seed: no interval)
