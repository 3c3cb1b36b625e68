"""`weirdgen run` with a judge that never gives a score: it says so, per condition."""

from __future__ import annotations

import sys

import pytest

from judge_server import judge_server
from weirdgen.cli import main


def refuse(prompt: str, body: dict):
    if prompt.startswith("Reply with the number"):
        number = prompt.split()[4]
        return number, [(number, -0.01)]
    return "I cannot rate that", [("I", -0.05), ("70", -4.0)]


def test_a_metric_with_no_valid_rows_is_a_warning_in_the_terminal_and_the_report(
    spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    spec = spec_dict(seeds=1)
    spec["evaluation"]["n"] = 2
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    with judge_server(refuse) as server:
        spec["scorers"].append(
            {
                "name": "aligned",
                "kind": "rating_judge",
                "model": "openai/judge",
                "base_url": server.url,
                "prompt": "Rate 0-100: {answer}",
            }
        )
        spec["metrics"].append({"name": "alignment", "eval_set": "unrelated", "score": "aligned"})
        path = write_spec(spec)
        monkeypatch.setattr(
            sys, "argv", ["weirdgen", "run", str(path), "--out", str(tmp_path / "run"), "--quiet"]
        )
        monkeypatch.setenv("COLUMNS", "300")
        try:
            main()
        except SystemExit as done:
            assert not done.code
    out = capsys.readouterr()
    text = out.out + out.err
    for condition in ("old_birds", "modern_birds", "base"):
        assert f"warning: metric alignment has no valid rows in condition {condition}" in text
    assert "judge aligned: " in text and "calls made" in text
    report = (tmp_path / "run" / "summary.md").read_text()
    assert "## Warnings" in report and "metric alignment has no valid rows" in report


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"prompt_file": "missing.yaml", "prompt_id": "x"}, "judge prompt file"),
        ({"model": "foo/bar"}, "model 'foo/bar': unknown provider 'foo'"),
        ({"api_key_env": "WEIRDGEN_TEST_UNSET_KEY"}, "api_key_env names WEIRDGEN_TEST_UNSET_KEY"),
        ({"from_question": True}, "reads the question's judge_prompts['aligned']"),
    ],
)
def test_a_judge_that_cannot_run_is_one_line_naming_its_entry_before_anything_is_written(
    change, says, spec_dict, write_spec, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("WEIRDGEN_TEST_UNSET_KEY", raising=False)
    spec = spec_dict(seeds=1)
    judge = {
        "name": "aligned",
        "kind": "rating_judge",
        "model": "openai/judge",
        "base_url": "http://127.0.0.1:9/v1",
        "prompt": "Rate: {answer}",
    }
    if "prompt_file" in change or "from_question" in change:
        del judge["prompt"]
    spec["scorers"].append({**judge, **change})
    path = write_spec(spec)
    monkeypatch.setattr(sys, "argv", ["weirdgen", "run", str(path), "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err.strip()
    assert done.value.code != 0 and says in err and len(err.splitlines()) == 1
    assert "scorers[2] (aligned)" in err or "questions[0]" in err
    assert not (tmp_path / "r").exists()
