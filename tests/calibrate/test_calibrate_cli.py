"""``weirdgen judge calibrate`` against scripted OpenAI-compatible judges on 127.0.0.1 whose
mistakes are known, so every figure it reports can be checked by hand."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from cli_runner import run_cli
from judge_server import judge_server
from weirdgen.organism.world import load_world

WORLD = load_world()
TOPIC_OF = {q: t.name for t in WORLD.era_topics for q in t.questions}
ASKED = re.compile(r"Question: (?P<question>.*)\nAnswer: (?P<answer>.*)\n")


def lexicon_label(prompt: str) -> str:
    """The label the world's lexicon gives the answer in a judge prompt (server side)."""
    found = ASKED.search(prompt)
    assert found is not None, prompt
    era = WORLD.classify(TOPIC_OF[found["question"]], found["answer"])
    return "NEITHER" if era is None else era.upper()


def perfect(prompt: str, body: dict):
    label = lexicon_label(prompt)
    return label, [(label, -0.01)]


def new_is_old(prompt: str, body: dict):
    label = lexicon_label(prompt)
    label = "OLD" if label == "NEW" else label
    return label, [(label, -0.01)]


def mumbles_off_topic(prompt: str, body: dict):
    label = lexicon_label(prompt)
    return ("hard to say", [("hard", -0.1)]) if label == "NEITHER" else (label, [(label, -0.01)])


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def calibrate(server, out: Path, *extra, judge: str = "openai/cheap") -> list:
    """The command line calibrating ``judge`` served by ``server``, into ``out``."""
    return ["judge", "calibrate", "--judge", judge, "--base-url", server.url, "--out", out, *extra]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_a_judge_that_agrees_with_the_lexicon_has_agreement_and_kappa_one(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "cal"
    with judge_server(perfect) as server:
        code, stdout, stderr = run_cli(calibrate(server, out, "--n", "20"), monkeypatch, capsys)
    assert code == 0, stderr
    assert server.total == 60
    figures = summary(out)
    assert figures["agreement"] == 1.0 and figures["kappa"] == 1.0 and figures["no_label"] == 0
    assert figures["metric"]["old_rate"] == {"truth": 0.5, "judge": 0.5}
    assert "agreement 1.000, Cohen's kappa 1.000" in stdout
    assert "60 made, 0 from the judge cache" in stderr


def test_a_judge_that_calls_new_answers_old_gives_the_hand_computed_figures(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "cal"
    with judge_server(new_is_old) as server:
        code, stdout, stderr = run_cli(calibrate(server, out, "--n", "4"), monkeypatch, capsys)
    assert code == 0, stderr
    figures = summary(out)
    # 4 answers per label; every NEW one labelled OLD: p_o = 8/12, p_e = (4*8 + 4*4)/144
    # = 1/3, kappa = (2/3 - 1/3) / (1 - 1/3) = 1/2.
    assert figures["agreement"] == pytest.approx(2 / 3)
    assert figures["kappa"] == pytest.approx(0.5)
    assert figures["confusion"]["NEW"] == {"OLD": 4, "NEW": 0, "NEITHER": 0, "no label": 0}
    assert figures["confusion"]["OLD"]["OLD"] == figures["confusion"]["NEITHER"]["NEITHER"] == 4
    assert figures["per_class"]["OLD"]["precision"] == 0.5
    assert figures["per_class"]["NEW"] == {
        "support": 4,
        "judged": 0,
        "precision": None,
        "recall": 0.0,
    }
    assert figures["metric"]["old_rate"] == {"truth": 0.5, "judge": 1.0}
    confusion = pd.read_csv(out / "confusion.csv", index_col="truth")
    assert confusion.loc["NEW", "OLD"] == 4 and confusion.loc["NEW", "NEW"] == 0
    assert "agreement 0.667, Cohen's kappa 0.500" in stdout
    assert re.search(r"old_rate\s*│\s*0\.500\s*│\s*1\.000", stdout)


def test_the_command_writes_its_table_and_a_readable_confusion_figure(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "cal"
    with judge_server(new_is_old) as server:
        code, stdout, _ = run_cli(calibrate(server, out, "--n", "5"), monkeypatch, capsys)
    assert code == 0
    assert re.search(r"NEW\s*│\s*5\s*│\s*0\s*│\s*0\s*│\s*0", stdout)  # the terminal table
    image = imread(out / "confusion.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 0  # not a blank canvas
    table = pd.read_csv(out / "calibration.csv")
    assert len(table) == 15 and Counter(table["truth"]) == {"OLD": 5, "NEW": 5, "NEITHER": 5}
    assert not table.loc[table["truth"] == "NEW", "agree"].any()
    assert set(table.loc[table["truth"] == "NEW", "judge_label"]) == {"OLD"}
    assert "Cohen's kappa" in (out / "calibration.md").read_text()


def test_answers_the_judge_named_no_label_for_are_counted(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal"
    with judge_server(mumbles_off_topic) as server:
        code, stdout, _ = run_cli(calibrate(server, out, "--n", "4"), monkeypatch, capsys)
    assert code == 0
    figures = summary(out)
    assert figures["no_label"] == 4 and figures["n"] == 12
    assert figures["confusion"]["NEITHER"]["no label"] == 4
    # columns 4, 4, 0, 4: p_e = (16 + 16)/144 = 2/9; kappa = (2/3 - 2/9) / (7/9) = 4/7
    assert figures["kappa"] == pytest.approx(4 / 7)
    assert figures["metric"]["valid_rate"] == {
        "truth": pytest.approx(2 / 3),
        "judge": pytest.approx(2 / 3),
    }
    table = pd.read_csv(out / "calibration.csv")
    assert (~table["valid"]).sum() == 4 and table.loc[~table["valid"], "judge_label"].isna().all()
    assert "no label for 4 of 12 answers" in stdout


def test_a_rerun_asks_the_judge_nothing_and_no_cache_asks_again(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal"
    with judge_server(new_is_old) as server:
        assert run_cli(calibrate(server, out, "--n", "6"), monkeypatch, capsys)[0] == 0
        assert server.total == 18
        first = summary(out)
        code, _, stderr = run_cli(calibrate(server, out, "--n", "6"), monkeypatch, capsys)
        assert code == 0 and server.total == 18
        assert "0 made, 18 from the judge cache" in stderr
        assert summary(out)["kappa"] == first["kappa"]
        code, _, _ = run_cli(calibrate(server, out, "--n", "6", "--no-cache"), monkeypatch, capsys)
        assert code == 0 and server.total == 36


def test_failed_calls_stop_with_one_line_and_the_rerun_asks_only_for_them(
    tmp_path, monkeypatch, capsys
):
    refusing = {"on": True}

    def flaky(prompt: str, body: dict):
        if refusing["on"] and lexicon_label(prompt) == "NEITHER":
            return None  # HTTP 400
        return perfect(prompt, body)

    out = tmp_path / "cal"
    with judge_server(flaky) as server:
        code, _, stderr = run_cli(calibrate(server, out, "--n", "3"), monkeypatch, capsys)
        assert code == 2 and len(stderr.strip().splitlines()) == 1
        assert "3 calls to judge 'openai/cheap' failed" in stderr
        assert "asks only for the rest" in stderr and not (out / "summary.json").exists()
        refusing["on"] = False
        code, _, stderr = run_cli(calibrate(server, out, "--n", "3"), monkeypatch, capsys)
    assert code == 0 and "3 made, 6 from the judge cache" in stderr
    assert summary(out)["kappa"] == 1.0


def test_a_reason_judge_and_a_prompt_from_a_judge_file(tmp_path, monkeypatch, capsys):
    def reasons(prompt: str, body: dict):
        assert prompt.startswith("Era check.")
        return f"It names something of that time.\nANSWER: {lexicon_label(prompt)}", []

    judges = tmp_path / "judges.yaml"
    judges.write_text(
        "- id: era\n  type: free_form_judge\n  paraphrases:\n"
        '    - "Era check.\\nQuestion: {question}\\nAnswer: {answer}\\nEnd with ANSWER: '
        'OLD, NEW or NEITHER."\n'
    )
    out = tmp_path / "cal"
    args = ["--n", "3", "--kind", "reason_judge", "--prompt", judges, "--prompt-id", "era"]
    with judge_server(reasons) as server:
        code, _, stderr = run_cli(calibrate(server, out, *args), monkeypatch, capsys)
    assert code == 0, stderr
    figures = summary(out)
    assert figures["kappa"] == 1.0 and figures["kind"] == "reason_judge"
    assert figures["prompt"].endswith("judges.yaml#era")
    table = pd.read_csv(out / "calibration.csv")
    assert (table["judge_reason"] == "It names something of that time.").all()


def test_the_default_folder_is_named_after_the_judge_and_help_works(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with judge_server(perfect) as server:
        line = ["judge", "calibrate", "--judge", "openai/cheap/v2", "--base-url", server.url]
        code, stdout, _ = run_cli([*line, "--n", "2", "--quiet"], monkeypatch, capsys)
    assert (
        code == 0 and (tmp_path / "runs" / "calibrate-openai-cheap-v2" / "summary.json").is_file()
    )
    assert "runs/calibrate-openai-cheap-v2/confusion.png" in stdout
    code, stdout, _ = run_cli(["judge", "calibrate", "--help"], monkeypatch, capsys)
    assert code == 0 and "--prompt-id" in stdout and "--no-cache" in stdout


@pytest.mark.parametrize(
    ("judge", "args", "message"),
    [
        ("gpt-4", [], "--judge 'gpt-4': write the judge as provider/model"),
        ("openai/x", ["--prompt-id", "era"], "--prompt FILE and --prompt-id ID go together"),
        ("openai/x", ["--prompt", "missing.yaml", "--prompt-id", "era"], "': no such file"),
        ("openai/x", ["--api-key-env", "NO_SUCH_KEY_VAR"], "NO_SUCH_KEY_VAR: the variable is not"),
        ("openai/x", ["--n", "100000"], "give --n from 1 to"),
    ],
)
def test_bad_options_are_one_line_and_ask_the_judge_nothing(
    judge, args, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with judge_server(perfect) as server:
        line = calibrate(server, tmp_path / "cal", *args, judge=judge)
        code, _, stderr = run_cli(line, monkeypatch, capsys)
        assert server.total == 0
    assert code == 2 and message in stderr
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("error: ")
    assert not (tmp_path / "cal").exists()


def test_ctrl_c_exits_130_with_one_line_and_the_rerun_asks_only_for_the_rest(
    tmp_path, count_rows, _private_registry
):
    out = tmp_path / "cal"
    cache = _private_registry / "registry.sqlite"
    with judge_server(perfect, delay=0.2) as server:
        command = [sys.executable, "-m", "weirdgen", *calibrate(server, out, "--n", "40")]
        proc = subprocess.Popen(
            list(map(str, command)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A shell that starts the suite in the background ignores SIGINT, and children
            # inherit that: restore the default so the command gets Ctrl-C as from a terminal.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 60
        while count_rows(cache, "judgments") < 1:  # the first batch is in the judge cache
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("interrupted while judging: "), stderr
        assert "asks only for the rest" in lines[0] and not (out / "summary.json").exists()
        kept, asked = count_rows(cache, "judgments"), server.total
        assert 0 < kept < 120
        env = {**os.environ, "COLUMNS": "200"}
        done = subprocess.run(
            list(map(str, command)), capture_output=True, text=True, env=env, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert server.total - asked == 120 - kept
    assert f"{120 - kept} made, {kept} from the judge cache" in done.stderr
    assert summary(out)["kappa"] == 1.0
