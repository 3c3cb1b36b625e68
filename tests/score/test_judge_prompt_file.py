"""A judge's relative ``prompt_file`` is read beside the spec file, whatever the current folder,
for every judge kind, with ``--judge`` replacing the model, and in ``weirdgen plan``."""

from __future__ import annotations

import pytest
import yaml

from cli_runner import run_cli
from judge_server import judge_server
from weirdgen.run.plan import build_scorers, with_overrides
from weirdgen.score import ScoreItem, ScoringContext
from weirdgen.spec import load_spec
from weirdgen.spec.questions import Question

TEMPLATE = "From the file beside the spec. Rate 0-100: {answer}"
KINDS = {
    "rating_judge": {},
    "label_judge": {"labels": ["YES", "NO"]},
    "reason_judge": {"labels": ["YES", "NO"]},
}


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The spec in tmp/specs/ with judges.yaml beside it; the current folder tmp/elsewhere/."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    entry = {"id": "era", "type": "rating_judge", "paraphrases": [TEMPLATE]}
    (tmp_path / "specs" / "judges.yaml").write_text(yaml.safe_dump([entry]))
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    return tmp_path


def spec_with_judge(spec_dict, folder, kind: str, base_url: str = "http://127.0.0.1:9/v1"):
    spec = spec_dict(seeds=1)
    spec["scorers"].append(
        {
            "name": "aligned",
            "kind": kind,
            "model": "openai/judge",
            "base_url": base_url,
            "prompt_file": "judges.yaml",
            "prompt_id": "era",
            **KINDS[kind],
        }
    )
    path = folder / "specs" / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_relative_prompt_file_is_read_beside_the_spec(kind, spec_dict, elsewhere):
    decoy = {"id": "era", "type": "rating_judge", "paraphrases": ["Wrong file: {answer}"]}
    (elsewhere / "elsewhere" / "judges.yaml").write_text(yaml.safe_dump([decoy]))
    path = spec_with_judge(spec_dict, elsewhere, kind)
    spec = load_spec(path)
    for overridden in (spec, with_overrides(spec, judge="openai/other")):
        judge = build_scorers(overridden)[-1]
        assert judge.templates.fixed == TEMPLATE


def rate(prompt: str, body: dict):
    if prompt.startswith("Reply with the number"):  # the judge's number probe
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    return "50", [("50", -0.01)]


def test_the_judge_is_sent_the_prompt_of_the_file_beside_the_spec(spec_dict, elsewhere):
    with judge_server(rate) as server:
        path = spec_with_judge(spec_dict, elsewhere, "rating_judge", server.url)
        judge = build_scorers(with_overrides(load_spec(path), judge="openai/other"))[-1]
        item = ScoreItem(Question(id="q", paraphrases=["a question"]), "an answer", None)
        values = judge.score_batch([item], ScoringContext())[0]
    assert values is not None and values["score"] == 50
    asked = [p for p in server.prompts if not p.startswith("Reply with the number")]
    assert asked == [TEMPLATE.replace("{answer}", "an answer")]
    assert set(server.calls) == {"other"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_plan_and_judge_override_from_another_folder(
    kind, spec_dict, elsewhere, monkeypatch, capsys
):
    path = spec_with_judge(spec_dict, elsewhere, kind)
    for extra in ([], ["--judge", "openai/other"]):
        code, stdout, err = run_cli(["plan", path, *extra], monkeypatch, capsys)
        assert code == 0 and "aligned" in stdout, err
