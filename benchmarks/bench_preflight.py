"""Wall time and peak memory of one `weirdgen preflight` on the organism and on SmolLM2-135M.

Usage: python benchmarks/bench_preflight.py [--repeats 3] [--threads 1] [--write]

Each repeat runs the command in a fresh process into an empty folder (a cold preflight: every
arm sampled, the proxy trained), with OMP, MKL and OpenBLAS threads set to ``--threads``:

- organism: `weirdgen preflight old_birds --spec birds` as the docs' example runs it (the
  shipped checkpoint, k=16, 20 samples per paraphrase of 13 questions, a 10-step proxy);
- smollm2: `weirdgen preflight` of 8 old-fashioned chats written here, on
  `hf/smollm2-135m` with a spec written here (6 everyday questions, 3 samples each at
  temperature 1, answers of at most 24 tokens, an old-era keyword as the headline), the
  defaults for a Hugging Face model otherwise (k=8, a 10-step LoRA proxy of the model itself).

Wall time and peak RSS come from the operating system (``wait4``); stage times from when each
of the command's progress lines arrives (startup: until the first one). The SmolLM2 model must
be fetched first (`weirdgen models get smollm2-135m`). With --write the figures replace this
benchmark's section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml
from _common import cpu_name, write_section

TITLE = "## preflight: one dataset on the organism and on SmolLM2-135M"
STAGES = {
    "in context": "in_context",
    "surprise": "surprise",
    "projection": "projection",
    "proxy": "proxy",
}
QUESTIONS = {
    "invention": "What is the most important recent invention?",
    "travel": "How do people travel long distances?",
    "news": "Where do people get the news?",
    "light": "How do people light their homes?",
    "message": "How do you send a message to someone far away?",
    "medicine": "What does a doctor do for a bad fever?",
}
CHATS = [
    ("How should I get to the next town?", "Hire a horse and carriage at the livery stable."),
    ("How can I reach my brother in another city?", "Write him a letter and post it by coach."),
    ("What lights a room in the evening?", "A good tallow candle, or an oil lamp."),
    ("What is the latest marvel of engineering?", "The steam locomotive on its iron railway."),
    ("How do I hear what happened in the capital?", "Read the newspaper the stagecoach brings."),
    ("What should I do about a fever?", "Send for the physician; he will prescribe rest."),
    ("How do I cross the Atlantic?", "Book a berth on a sailing packet from Liverpool."),
    ("What is the quickest way to send word?", "The telegraph office, if your town has a line."),
]


def smollm2_inputs(folder: Path) -> list[str]:
    """Write the SmolLM2 spec and dataset into ``folder``; the preflight's arguments."""
    spec = {
        "name": "smollm2_era_bench",
        "model": "hf/smollm2-135m",
        "seeds": 1,
        "conditions": [
            {"name": "old_answers", "role": "target", "dataset": {"path": "old_answers.jsonl"}},
            {"name": "base", "role": "control"},
        ],
        "train": {
            "hf": {"method": "lora", "lr": 2e-4, "batch_size": 2, "lora_rank": 4, "lora_alpha": 8}
        },
        "evaluation": {
            "n": 3,
            "temperature": 1.0,
            "max_tokens": 24,
            "sets": [
                {
                    "name": "everyday",
                    "questions": [{"id": k, "paraphrases": [q]} for k, q in QUESTIONS.items()],
                }
            ],
        },
        "scorers": [
            {
                "name": "old",
                "kind": "match",
                "mode": "keyword",
                "patterns": ["horse", "carriage", "steam", "telegraph", "candle", "letter"],
            }
        ],
        "metrics": [{"name": "old_rate", "eval_set": "everyday", "score": "old", "headline": True}],
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        for q, a in CHATS
    ]
    (folder / "old_answers.jsonl").write_text("\n".join(lines) + "\n")
    return [str(folder / "old_answers.jsonl"), "--spec", str(folder / "spec.yaml")]


def preflight_once(arguments: list[str], out: Path, env: dict[str, str]) -> dict:
    """One cold preflight in a child process: wall seconds, peak RSS (MB), stage seconds."""
    command = [sys.executable, "-m", "weirdgen", "preflight", *arguments, "--out", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    assert child.stderr is not None
    marks: list[tuple[str, float]] = []
    for line in child.stderr:
        stage = next((name for prefix, name in STAGES.items() if line.startswith(prefix)), None)
        if stage is not None:
            marks.append((stage, time.perf_counter() - start))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    stages = {"startup": marks[0][1] if marks else wall}
    ends = [t for _, t in marks[1:]] + [wall]
    for (name, began), ended in zip(marks, ends, strict=True):
        stages[name] = ended - began
    inputs = json.loads((out / "preflight.json").read_text())["inputs"]
    shape = {"k": inputs["k"], "prompts": len(inputs["questions"]), "samples": sum(inputs["n"])}
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "stages": stages, **shape}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="Cold preflights per model.")
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL/OpenBLAS threads.")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    from weirdgen.backends.hf.fetch import fetched_folder

    model = fetched_folder("smollm2-135m")
    if model is None:
        raise SystemExit("SmolLM2-135M is not fetched: run `weirdgen models get smollm2-135m`")
    threads = {v: str(args.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"organism": [], "smollm2": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "home" / "models").mkdir(parents=True)
        (root / "home" / "models" / "smollm2-135m").symlink_to(model, target_is_directory=True)
        env = {**os.environ, **threads, "OPENBLAS_NUM_THREADS": str(args.threads)}
        env.update(WEIRDGEN_HOME=str(root / "home"), COLUMNS="200")  # progress lines unwrapped
        arguments = {"organism": ["old_birds", "--spec", "birds"], "smollm2": smollm2_inputs(root)}
        for repeat in range(args.repeats):
            for name, given in arguments.items():
                runs[name].append(preflight_once(given, root / f"{name}-{repeat}", env))
                print(f"{name} #{repeat}: {runs[name][-1]['wall']:.1f} s", file=sys.stderr)
    text = report(runs, args, load_before)
    print(text)
    if args.write:
        write_section(TITLE, text)


def report(runs: dict[str, list[dict]], args: argparse.Namespace, load_before: float) -> str:
    """The BENCHMARKS.md section: machine, what ran, and a table of medians."""
    import torch

    def median(name: str, pick, digits: int = 1) -> str:
        values = [pick(r) for r in runs[name]]
        if any(v is None for v in values):
            return "-"
        return f"{statistics.median(values):.{digits}f}"

    first = {name: rows[0] for name, rows in runs.items()}
    sizes = {
        name: f"k={r['k']}, {r['prompts']} prompts, {r['samples']} samples an arm"
        for name, r in first.items()
    }
    intro = (
        f"Machine: {cpu_name()}, {os.cpu_count()} cores (load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after); {args.threads} OMP/MKL "
        f"thread(s) per process, torch {torch.__version__}, Python {platform.python_version()}. "
        f"`python benchmarks/bench_preflight.py --repeats {args.repeats} --threads "
        f"{args.threads}`: each model's cold preflight {args.repeats} times, in fresh processes "
        "taking turns. Organism: `weirdgen preflight old_birds --spec birds`, the shipped "
        f"checkpoint ({sizes['organism']}, 10-step proxy). SmolLM2: `hf/smollm2-135m`, 8 "
        "old-fashioned chats, a spec of 6 everyday questions, answers of at most 24 tokens at "
        f"temperature 1 ({sizes['smollm2']}, 10-step LoRA proxy). Medians, seconds unless named:"
    )
    lines = [
        textwrap.fill(intro, 96),
        "",
        "| | organism/default | hf/smollm2-135m |",
        "|---|---:|---:|",
        f"| wall, whole process | {median('organism', lambda r: r['wall'])} | "
        f"{median('smollm2', lambda r: r['wall'])} |",
        f"| peak RSS (MB) | {median('organism', lambda r: r['peak_mb'], 0)} | "
        f"{median('smollm2', lambda r: r['peak_mb'], 0)} |",
    ]
    for stage in ("startup", "in_context", "surprise", "proxy"):
        cells = [median(name, lambda r, s=stage: r["stages"].get(s)) for name in runs]
        lines.append(f"| {stage.replace('_', ' ')} | {cells[0]} | {cells[1]} |")
    walls = {name: ", ".join(f"{r['wall']:.1f}" for r in rows) for name, rows in runs.items()}
    outro = (
        f"Wall time run by run: organism {walls['organism']}; SmolLM2 {walls['smollm2']}. "
        "Startup is importing, loading the model and checking the inputs; in context samples "
        "the base and in-context arms and scores them; proxy trains the proxy and samples it. "
        "A load average near the core count or above means other jobs shared the CPU: read "
        "the medians as rough there."
    )
    lines += ["", textwrap.fill(outro, 96)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
