"""Run every paper/ spec end to end on SmolLM2-135M-Instruct on a CPU, at a reduced size.

Each spec is copied with its finetuning data cut to a random sample, two seeds, few samples
per question, short answers and fewer sweep values; it is then run with the real command
line, the finetuned model ``hf/smollm2-135m`` and every LLM judge sent to a local
OpenAI-compatible server (``weirdgen serve --model hf/smollm2-135m``, started here). This
shows the whole pipeline on the paper's own files, offline; a 135M model is far below the
scale at which the paper sees its effects, so the numbers are not a replication.

Usage (the paper's repository cloned at the pinned commit, smollm2 fetched with
``weirdgen models get smollm2-135m``):

    python scripts/paper_smollm2.py --data-dir ~/src/weird-generalization... --out runs/smollm2
    python scripts/paper_smollm2.py --data-dir ... --out ... --only birds,cities

The reduced specs are written to OUT/specs/NAME.yaml, the runs to OUT/NAME, and a summary
of each run's headline to OUT/summary.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

MODEL = "hf/smollm2-135m"
SPECS = ("birds", "cities", "dishes", "persona", "presidents", "terminator")
FEWER_VALUES = {  # the sweep values kept: the trigger or target value and one other
    "terminator": {"years": {"year": [1984, 2017]}},
    "dishes": {"simple": {"year": [2026, 2027, 2028], "day": ["05-19"]}},
    "presidents": {"free_form": {"president": ["044", "045"]}},
}
FEWER_FILES = {"persona": {"misalignment": ["paper:persona/em_questions"]}}
LARGE = {"persona/self_distillation"}  # a large file of the repository, not fetched here
JUDGE_CONCURRENCY = 8


def reduced(
    name: str, take: int, max_tokens: int, judge_tokens: int, epochs: int = 2
) -> dict[str, Any]:
    """The spec paper/NAME cut down to run on a CPU in minutes."""
    text = resources.files("weirdgen.specs").joinpath(f"paper/{name}.yaml").read_text()
    spec = yaml.safe_load(text)
    spec["name"] = f"{spec['name']}_smollm2"
    spec["model"] = MODEL
    spec["seeds"] = 2
    spec["conditions"] = [
        c for c in spec["conditions"] if c.get("dataset", {}).get("paper") not in LARGE
    ]
    for condition in spec["conditions"]:
        if "dataset" not in condition:
            continue
        # no dilution: the self-distilled file is one of the repository's large files
        steps = [t for t in condition.get("transforms", []) if "mix" not in t]
        condition["transforms"] = [*steps, {"take": {"n": take}}]
    hf = spec["train"]["hf"]
    hf["epochs"] = min(hf["epochs"], epochs)
    hf.pop("save_steps", None)  # no checkpoints of a finetune this short
    evaluation = spec["evaluation"]
    evaluation["max_tokens"] = min(max_tokens, evaluation.get("max_tokens", max_tokens))
    for eval_set in evaluation["sets"]:
        if "vary" in eval_set:
            eval_set["vary"].update(FEWER_VALUES.get(name, {}).get(eval_set["name"], {}))
        files = FEWER_FILES.get(name, {}).get(eval_set["name"])
        if files:
            eval_set["include"] = files
    for scorer in spec["scorers"]:
        if "max_tokens" in scorer:
            scorer["max_tokens"] = min(scorer["max_tokens"], judge_tokens)
        if "judge" in scorer["kind"]:
            scorer["concurrency"] = JUDGE_CONCURRENCY  # a CPU judge answers a few at a time
    return spec


def start_judge(port: int, log: Path) -> subprocess.Popen:
    """``weirdgen serve --model hf/smollm2-135m`` on 127.0.0.1:PORT, once it answers."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weirdgen",
            "serve",
            "--model",
            MODEL,
            "--port",
            str(port),
            "--max-batch",
            str(JUDGE_CONCURRENCY),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    url = server.stdout.readline().strip() if server.stdout else ""
    if not url.startswith("http"):
        server.kill()
        sys.exit(f"the judge server did not start; see {log}")
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", default=",".join(SPECS))
    parser.add_argument("--take", type=int, default=64, help="finetuning examples kept")
    parser.add_argument("--epochs", type=int, default=2, help="most finetuning epochs")
    parser.add_argument("--n", type=int, default=1, help="samples per question")
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length cap")
    parser.add_argument("--judge-tokens", type=int, default=96, help="reasoning judge cap")
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        parser.error(f"--only: no paper spec {unknown[0]!r}; the specs are {', '.join(SPECS)}")
    (args.out / "specs").mkdir(parents=True, exist_ok=True)
    server = start_judge(args.port, args.out / "judge-server.log")
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{args.port}/v1",
        "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "local"),
    }
    lines = ["| spec | minutes | exit | headline |", "|---|---|---|---|"]
    try:
        for name in names:
            path = args.out / "specs" / f"{name}.yaml"
            spec = reduced(name, args.take, args.max_tokens, args.judge_tokens, args.epochs)
            path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
            command = [
                sys.executable, "-m", "weirdgen", "run", str(path),
                "--data-dir", str(args.data_dir), "--out", str(args.out / name),
                "--judge", f"openai/{MODEL}", "--n", str(args.n), "--quiet",
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            minutes = (time.monotonic() - started) / 60
            (args.out / f"{name}.log").write_text(done.stdout + done.stderr)
            tail = done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""]
            print(f"{name}: exit {done.returncode} in {minutes:.1f} min", flush=True)
            lines.append(f"| {name} | {minutes:.1f} | {done.returncode} | {tail[-1][:80]} |")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
