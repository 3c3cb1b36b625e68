"""`weirdgen run` with a judge that never gives a score: it says so, per condition."""

from __future__ import annotations

import sys

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
