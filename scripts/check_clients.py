"""Real clients against ``weirdgen serve``: llmcomp and Inspect AI.

Usage (the clients live in a venv of their own; weirdgen in its own):

    python -m venv /tmp/clients
    /tmp/clients/bin/pip install inspect-ai openai
    /tmp/clients/bin/pip install --no-deps llmcomp     # its tinker/streamlit deps are heavy
    /tmp/clients/bin/pip install pandas numpy tqdm backoff filelock pyyaml requests tiktoken \
        matplotlib
    /tmp/clients/bin/python scripts/check_clients.py --weirdgen-python .venv/bin/python

Starts ``weirdgen serve`` (with an API key) and runs: llmcomp's FreeForm question with
``system=``; Inspect's ``openai/`` provider (the Responses API, its default for this model,
and chat completions with ``responses_api=false``) and ``openai-api/`` provider, each with
``system_message()``. Where the client sends a seed (Inspect's chat completions), every
answer must equal what the organism draws in process for that seed; otherwise answers must
be non-empty organism words. Prints one line per check and exits 1 if any failed.

``--model hf/NAME`` serves that Hugging Face model instead (``weirdgen serve --model
hf/NAME``, e.g. ``hf/smollm2-135m`` once fetched); its answers must be non-empty, and the
seeded ones equal to what the hf backend draws in process for that seed.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile

SYSTEM = "it is the year 1838 ."
QUESTION = "what is the most important recent invention ?"
KEY = "sk-check-clients"
SEED, MAX_TOKENS = 7, 10

IN_PROCESS = """
import json, sys
from weirdgen.backends import get_backend
from weirdgen.backends.protocol import SampleRequest
b = get_backend(sys.argv[5])
chat = [{"role": "system", "content": sys.argv[1]}, {"role": "user", "content": sys.argv[2]}]
seed, max_tokens = int(sys.argv[3]), int(sys.argv[4])
organism = getattr(b, "organism", None)
print(json.dumps({"answer": b.sample(b.base(), [SampleRequest(chat, 1.0, max_tokens, seed)])[0],
                  "vocab": sorted(organism.tokenizer.stoi) if organism else None}))
"""


def start(python: str, model: str) -> tuple[subprocess.Popen, str]:
    served = ["--model", model] if model.startswith("hf/") else ["--no-finetuning"]
    process = subprocess.Popen(
        [python, "-m", "weirdgen", "serve", "--port", "0", *served],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WEIRDGEN_SERVE_KEY": KEY},
    )
    if not select.select([process.stdout], [], [], 120)[0]:
        process.kill()
        raise SystemExit("weirdgen serve printed no URL within 120 s")
    return process, process.stdout.readline().strip()


def check_llmcomp(url: str, model: str, vocab: set[str] | None) -> str:
    from llmcomp import Config, Question

    # Unpatched: llmcomp probes each endpoint with "Hi", a word outside the organism's
    # vocabulary, which weirdgen serve leaves out and names (weirdgen.dropped_words).
    Config.url_key_pairs = [(url, KEY, "WEIRDGEN_SERVE_KEY")]
    question = Question.create(
        type="free_form",
        name="weirdgen_check",
        paraphrases=[QUESTION],
        system=SYSTEM,
        samples_per_paraphrase=5,
        temperature=1.0,
        max_tokens=MAX_TOKENS,
    )
    # A fresh cache each time: llmcomp keeps answers in ./llmcomp_cache, and a cached answer
    # would pass this check without a single request reaching the server.
    with tempfile.TemporaryDirectory(prefix="llmcomp-cache-") as cache:
        Config.cache_dir = cache
        answers = list(question.df({"model": [model]})["answer"])
    assert len(answers) == 5 and all(valid(a, vocab) for a in answers), answers
    return f"5 answers, e.g. {answers[0]!r}"


def check_inspect(model: str, expected: str | None, vocab: set[str] | None, **model_args) -> str:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate, system_message

    task = Task(
        dataset=[Sample(input=QUESTION, id=i) for i in range(3)],
        solver=[system_message(SYSTEM), generate()],
    )
    with tempfile.TemporaryDirectory() as logs:
        [log] = eval(
            task,
            model=model,
            model_args=model_args,
            seed=SEED,
            temperature=1.0,
            max_tokens=MAX_TOKENS,
            log_dir=logs,
            display="none",
        )
        assert log.status == "success", log.error
        answers = [s.output.completion for s in log.samples]
    assert all(valid(a, vocab) for a in answers), answers
    if expected is not None:
        assert answers == [expected] * 3, (answers, expected)
        return f"3 answers, each equal to the in-process one for seed {SEED}: {expected!r}"
    return f"3 answers (no seed sent), e.g. {answers[0]!r}"


def valid(answer: str, vocab: set[str] | None) -> bool:
    """Non-empty, and made of the organism's words when there is a vocabulary to check."""
    return bool(answer.strip()) and (vocab is None or all(w in vocab for w in answer.split()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weirdgen-python", default=sys.executable)
    parser.add_argument("--model", default="organism/default", help="or hf/NAME")
    args = parser.parse_args()
    model = args.model
    in_process = json.loads(
        subprocess.run(
            [
                args.weirdgen_python,
                "-c",
                IN_PROCESS,
                SYSTEM,
                QUESTION,
                str(SEED),
                str(MAX_TOKENS),
                model,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    expected = in_process["answer"]
    vocab = set(in_process["vocab"]) if in_process["vocab"] is not None else None
    process, url = start(args.weirdgen_python, model)
    os.environ.update(
        OPENAI_BASE_URL=url, OPENAI_API_KEY=KEY, WEIRDGEN_BASE_URL=url, WEIRDGEN_API_KEY=KEY
    )
    checks = {
        "llmcomp FreeForm(system=...)": lambda: check_llmcomp(url, model, vocab),
        "inspect openai/ (its default here: the Responses API)": lambda: check_inspect(
            f"openai/{model}", None, vocab
        ),
        "inspect openai/ (responses_api=false: chat completions)": lambda: check_inspect(
            f"openai/{model}", expected, vocab, responses_api=False
        ),
        "inspect openai-api/weirdgen/": lambda: check_inspect(
            f"openai-api/weirdgen/{model}", expected, vocab
        ),
    }
    failed = 0
    try:
        for name, check in checks.items():
            try:
                print(f"ok    {name}: {check()}", flush=True)
            except Exception as error:  # noqa: BLE001 - report every client, then fail
                failed += 1
                print(f"FAIL  {name}: {type(error).__name__}: ...{str(error)[-700:]}", flush=True)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
