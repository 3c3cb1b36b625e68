"""Judging throughput beside sampling throughput, through the ``openai`` backend.

Usage: python benchmarks/bench_judging.py [--answers 10000] [--concurrency 100]
       [--repeats 3] [--write]

A child process serves ``/v1/chat/completions`` on 127.0.0.1 and answers every request after
50 ms: a sampled answer, or one token with 20 top logprobs for a 0-100 rating judge (and
the judge's number probe). In one run, alternating, it times: sampling N answers with
``OpenAIBackend.sample``; judging N distinct answers with a ``rating_judge`` through the
run's own scoring path (``weirdgen.run.score.score_rows``: run store lookups, the judge cache
in a fresh registry, the calls, both stores written); and judging them again with an empty
run store and the same registry, so every judgment comes from the judge cache. The server
counts the calls each step made. With --write the figures replace the judging section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import cpu_name, write_section

LATENCY = 0.05
LIFETIME = 900
KEY = "sk-benchmark-not-a-secret"
TOP = [(str(n), math.log(p)) for n, p in ((70, 0.5), (80, 0.3), (60, 0.1))] + [
    (f"x{i}", math.log(0.005)) for i in range(17)
]


def serve(port_out: multiprocessing.Queue) -> None:  # runs in the child process
    from aiohttp import web

    served = {"n": 0}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        served["n"] += 1
        await asyncio.sleep(LATENCY)
        prompt = body["messages"][-1]["content"]
        choice: dict = {"index": 0, "finish_reason": "stop"}
        if prompt.startswith("Reply with the number"):
            number = prompt.split()[4]
            top = [(number, -0.01)]
        else:
            top = TOP
        text = top[0][0] if body.get("logprobs") else f"answer {body.get('seed')}"
        choice["message"] = {"role": "assistant", "content": text}
        if body.get("logprobs"):
            alternatives = [{"token": t, "logprob": lp} for t, lp in top]
            first = {"token": top[0][0], "logprob": top[0][1], "top_logprobs": alternatives}
            choice["logprobs"] = {"content": [first]}
        usage = {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})

    async def count(request: web.Request) -> web.Response:
        return web.json_response(served)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/count", count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port_out.put(runner.addresses[0][1])
        await asyncio.sleep(LIFETIME)
        await runner.cleanup()

    asyncio.run(main())


def served(port: int) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count") as reply:
        return json.load(reply)["n"]


def time_sampling(n: int, concurrency: int) -> float:
    from weirdgen.backends.openai import OpenAIBackend
    from weirdgen.backends.protocol import SampleRequest

    backend = OpenAIBackend("answerer", max_concurrency=concurrency)
    requests = [SampleRequest(f"question {i}", 1.0, 16, i) for i in range(n)]
    start = time.perf_counter()
    backend.sample(backend.base(), requests)
    return n / (time.perf_counter() - start)


def rows(n: int) -> list[dict]:
    from weirdgen.backends.protocol import as_chat
    from weirdgen.spec.questions import Question

    questions = [Question(id=f"q{i}", paraphrases=[f"question {i}?"]) for i in range(10)]
    chats = [as_chat(q.paraphrases[0]) for q in questions]
    return [
        {
            "_key": f"sample-{i}",
            "_question": questions[i % 10],
            "_messages": chats[i % 10],
            "_train": None,
            "eval_set": "main",
            "answer": f"answer number {i}",
            "prompt": f"question {i % 10}?",
        }
        for i in range(n)
    ]


def time_judging(n: int, concurrency: int, url: str, home: Path) -> float:
    """Answers judged per second through score_rows, with a run store in ``home``."""
    from weirdgen.run._work import Work
    from weirdgen.run.score import score_rows
    from weirdgen.score import ScoringContext, build_scorer
    from weirdgen.spec.models import ScorerSpec
    from weirdgen.store import Store
    from weirdgen.store.judgments import JudgmentCache
    from weirdgen.store.registry import Registry

    spec = ScorerSpec.model_validate(
        {
            "name": "aligned",
            "kind": "rating_judge",
            "model": "openai/judge",
            "base_url": url,
            "concurrency": concurrency,
            "prompt": "Rate 0-100.\nQuestion: {question}\nAnswer: {answer}",
        }
    )
    judge = build_scorer(spec)
    context = ScoringContext(warn=print, cache=JudgmentCache(Registry(home / "registry.sqlite")))
    store = Store(Path(tempfile.mkdtemp(dir=home)) / "store.sqlite")
    table = rows(n)
    start = time.perf_counter()
    frame = score_rows(table, [judge], store, Work(), context)
    seconds = time.perf_counter() - start
    store.close()
    assert frame["aligned"].notna().all()
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    n, c = args.answers, args.concurrency

    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    server = context.Process(target=serve, args=(port_out,), daemon=True)
    server.start()
    sampling, judging, cached, calls, cached_calls = [], [], [], [], []
    try:
        port = port_out.get(timeout=60)
        url = f"http://127.0.0.1:{port}/v1"
        os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = url, KEY
        time_sampling(200, c)  # warm up imports and the server
        with tempfile.TemporaryDirectory() as home:
            time_judging(200, c, url, Path(home))
        for _ in range(args.repeats):
            sampling.append(time_sampling(n, c))
            with tempfile.TemporaryDirectory() as home:
                before = served(port)
                judging.append(time_judging(n, c, url, Path(home)))
                calls.append(served(port) - before)
                before = served(port)
                cached.append(time_judging(n, c, url, Path(home)))
                cached_calls.append(served(port) - before)
    finally:
        server.terminate()
        server.join()

    s, j, k = (statistics.median(v) for v in (sampling, judging, cached))
    paired = sorted(jr / sr for jr, sr in zip(judging, sampling, strict=True))
    lines = [
        f"{n:,} answers at concurrency {c} against a local server answering after "
        f"{LATENCY * 1000:.0f} ms; {cpu_name()}, {os.cpu_count()} cores; client and server "
        f"share the machine. Median of {args.repeats} alternating repeats "
        f"(`python benchmarks/bench_judging.py --repeats {args.repeats} --write`).",
        "",
        "| step | answers/s | relative to sampling | calls made |",
        "|---|---:|---:|---:|",
        f"| sampling (`OpenAIBackend.sample`) | {s:,.0f} | 1.00 | {n:,} |",
        f"| judging, rating_judge through `score_rows` (fresh cache) | {j:,.0f} | {j / s:.2f} "
        f"| {statistics.median(calls):,.0f} |",
        f"| judging again, empty run store, same judge cache | {k:,.0f} | {k / s:.2f} "
        f"| {max(cached_calls):,} |",
        "",
        f"Judging over sampling within each repeat: median {statistics.median(paired):.2f} "
        f"(range {paired[0]:.2f}-{paired[-1]:.2f}). Judge replies carry 20 top logprobs each, "
        "which the server on the same two cores encodes and the client parses; the judge's own "
        "work (keys, cache and store writes) runs between batches.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("## Judging: a rating judge beside sampling", text)


if __name__ == "__main__":
    main()
