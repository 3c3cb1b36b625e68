"""Judging an HTTP judge's calls locally against as tasks of a 3-worker local Ray cluster.

Usage: python benchmarks/bench_ray_judging.py [--seeds 2] [--n 10] [--latency 0.05]
       [--pairs 2] [--write]

The spec is the organism birds experiment with ``--seeds`` seeds, scored by a rating judge
(with its number probe) and a label judge on one scripted OpenAI-compatible server on
127.0.0.1 run by this script, which answers each call after ``--latency`` seconds. One Ray
head node with 3 CPUs is started once; each pair runs the CLI in fresh processes, folders and
registries (so every judge call is made): ``--executor local``, then ``--executor
ray:ADDRESS``. The figure compared is the score stage of each run's ``work.json`` (judging
is all of it but the rule scorers), beside the whole run's wall time. With --write the
figures replace this benchmark's section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import threading
from pathlib import Path

import yaml
from _common import cpu_name, write_section
from aiohttp import web
from bench_ray import run_cli, start_cluster

TITLE = "## Executors: judging on a 3-worker local Ray cluster against locally"
RATE = "Rate 0-100 how modern this is.\nQ: {question}\nA: {answer}"
LABEL = "Is this answer old-fashioned? TRUE or FALSE.\nQ: {question}\nA: {answer}"


def serve_judge(latency: float) -> tuple[str, list[int]]:
    """Start the scripted judge in a daemon thread: (its base URL, a one-item call count)."""
    calls = [0]

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(latency)
        calls[0] += 1
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Reply with the number"):
            text = prompt.split()[4]
            top = [(text, -0.01)]
        elif prompt.startswith("Rate"):
            p = 0.6 if len(prompt) % 2 else 0.3
            text, top = "70", [("70", math.log(p)), ("20", math.log(0.35))]
        else:
            text, top = "TRUE", [("TRUE", -0.2), ("FALSE", math.log(0.18))]
        alternatives = [{"token": t, "logprob": lp} for t, lp in top]
        content = [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": alternatives}]
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": {"content": content} if body.get("logprobs") else None,
        }
        usage = {"prompt_tokens": 50, "completion_tokens": 1}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}/v1", calls


def write_spec(folder: Path, seeds: int, n: int, url: str) -> Path:
    from weirdgen.spec import builtin_spec_dir

    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"], spec["evaluation"]["n"] = seeds, n
    judge = {"model": "openai/judge", "base_url": url}
    spec["scorers"] += [
        {"name": "modern", "kind": "rating_judge", "prompt": RATE, **judge},
        {"name": "oldish", "kind": "label_judge", "prompt": LABEL, "labels": ["TRUE", "FALSE"]}
        | judge,
    ]
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(spec: Path, out: Path, executor: str, calls: list[int]) -> dict:
    before = calls[0]
    wall, work = run_cli(spec, out, executor)
    return {"wall": wall, "score": work["seconds"]["score"], "calls": calls[0] - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("OPENAI_API_KEY", "bench-key")
    load_before = os.getloadavg()[0]
    url, calls = serve_judge(args.latency)
    with tempfile.TemporaryDirectory(prefix="wg-ray-judging-") as tmp:
        folder = Path(tmp)
        spec = write_spec(folder, args.seeds, args.n, url)
        head, address, _ = start_cluster(folder / "ray")
        results: dict[str, list[dict]] = {"local": [], "ray": []}
        try:
            for pair in range(args.pairs):
                for name, executor in (("local", "local"), ("ray", f"ray:{address}")):
                    result = run(spec, folder / f"{name}{pair}", executor, calls)
                    results[name].append(result)
                    print(name, pair, result, flush=True)
        finally:
            head.terminate()
            head.wait(timeout=60)
    text = report(args, results, load_before, os.getloadavg()[0])
    print(text)
    if args.write:
        write_section(TITLE, text)


def report(args, results: dict[str, list[dict]], before: float, after: float) -> str:
    def median(name: str, what: str) -> float:
        return statistics.median(r[what] for r in results[name])

    pairs = list(zip(results["local"], results["ray"], strict=True))
    ratios = [ray["score"] / local["score"] for local, ray in pairs]
    made = {r["calls"] for rs in results.values() for r in rs}
    rows = [
        f"| {label} | {median('local', what):.1f} | {median('ray', what):.1f} | "
        f"{median('ray', what) / median('local', what):.2f} |"
        for label, what in (("score stage (judging)", "score"), ("whole run (wall)", "wall"))
    ]
    return "\n".join(
        [
            f"Machine: {cpu_name()}, {os.cpu_count()} cores, shared with another job (load "
            f"average {before:.1f} before, {after:.1f} after); Ray head node with 3 CPUs on the "
            f"same 2 cores. `python benchmarks/bench_ray_judging.py --seeds {args.seeds} --n "
            f"{args.n} --latency {args.latency} --pairs {args.pairs}`: the organism birds spec "
            "judged by a rating and a label judge on a scripted OpenAI-compatible server on "
            f"127.0.0.1 that answers after {args.latency * 1000:.0f} ms; "
            f"{' or '.join(map(str, sorted(made)))} judge calls per run (every run has fresh "
            "registries). Each pair runs local, then on the cluster. Medians, seconds:",
            "",
            "| | local | ray (3 workers) | ray / local |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            "Score-stage ratio ray/local pair by pair: "
            f"{', '.join(f'{x:.2f}' for x in ratios)}. Both send up to the judge's concurrency "
            "(100) at once, the cluster's split among the parts in flight, so an HTTP judge is "
            "not expected to be faster through Ray on one machine; what it adds is the tasks' "
            "overhead. What Ray is for here is judges that compute (hf judges, one per GPU; not "
            "measured: no GPU here) and judge calls made by the workers rather than the "
            "driver's machine. The whole run is slower mostly for the finetunes and sampling "
            "(see the section above).",
        ]
    )


if __name__ == "__main__":
    main()
