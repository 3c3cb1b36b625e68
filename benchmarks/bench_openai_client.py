"""Requests/s of the ``openai`` backend against a local OpenAI-compatible server.

Usage: python benchmarks/bench_openai_client.py [--requests 2000] [--concurrency 100]
       [--repeats 3] [--write]

A child process serves ``/v1/chat/completions`` on 127.0.0.1, answering every request after
50 ms (and ``/flaky/v1/...`` the same, except that 10% of answers are 429 with
``Retry-After: 1``; ``/flaky-short/v1/...`` with ``Retry-After: 0.1``); it stops by itself
after a bounded number of requests or seconds. In one run, side by side and alternating, it
times 2000 requests at concurrency 100 through weirdgen's backend, the ``openai`` SDK on its
default httpx transport and the SDK on its aiohttp transport (both with retries off), then
sends the same load to the flaky servers and counts requests lost and requests/s (weirdgen,
and the SDK with its default 2 retries). With --write the figures replace the API-client
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import statistics
import time

from _common import cpu_name, write_section

LATENCY = 0.05
MAX_SERVED = 60_000  # the server stops answering after this many requests...
LIFETIME = 600  # ...or after this many seconds
KEY = "sk-benchmark-not-a-secret"


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def serve(port_out: multiprocessing.Queue) -> None:  # runs in the child process
    from aiohttp import web

    served = 0
    flaky = random.Random(0)

    async def chat(request: web.Request) -> web.Response:
        nonlocal served
        body = await request.json()
        served += 1
        if served > MAX_SERVED:
            return web.json_response({"error": {"message": "benchmark budget spent"}}, status=503)
        await asyncio.sleep(LATENCY)
        prefix = request.match_info["prefix"]
        if prefix.startswith("flaky") and flaky.random() < 0.1:
            error = {"message": "Rate limit reached", "code": "rate_limit_exceeded"}
            wait = "0.1" if prefix == "flaky-short" else "1"
            return web.json_response({"error": error}, status=429, headers={"Retry-After": wait})
        content = f"answer {body.get('seed')}"
        return web.json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            }
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{prefix}/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.sleep(LIFETIME)
        await runner.cleanup()

    asyncio.run(main())


def requests_for(n: int) -> list:
    from weirdgen.backends.protocol import SampleRequest

    return [SampleRequest(f"question {i}", 1.0, 16, i) for i in range(n)]


def time_weirdgen(url: str, n: int, concurrency: int) -> tuple[float, int]:
    """Requests/s, and how many answers are missing or wrong (each must echo its seed)."""
    from weirdgen.backends.openai import OpenAIBackend, SamplingFailed

    os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = url, KEY
    backend = OpenAIBackend("bench-model", max_concurrency=concurrency)
    requests = requests_for(n)
    start = time.perf_counter()
    try:
        answers = backend.sample(backend.base(), requests)
    except SamplingFailed as failed:
        return n / (time.perf_counter() - start), len(failed.failures)
    seconds = time.perf_counter() - start
    wrong = sum(a != f"answer {r.seed}" for a, r in zip(answers, requests, strict=True))
    return n / seconds, wrong


def time_sdk(url: str, n: int, concurrency: int, transport: str, retries: int) -> tuple[float, int]:
    """Requests/s through ``openai.AsyncOpenAI``, and how many requests raised."""
    import openai

    async def run() -> tuple[float, int]:
        http = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
        client = openai.AsyncOpenAI(
            base_url=url, api_key=KEY, max_retries=retries, http_client=http
        )
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> bool:
            async with limit:
                try:
                    reply = await client.chat.completions.create(
                        model="bench-model",
                        messages=[{"role": "user", "content": f"question {i}"}],
                        temperature=1.0,
                        max_tokens=16,
                        seed=i,
                    )
                except openai.APIError:
                    return False
                return reply.choices[0].message.content == f"answer {i}"

        async with client:
            start = time.perf_counter()
            ok = await asyncio.gather(*(one(i) for i in range(n)))
            return n / (time.perf_counter() - start), ok.count(False)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    n, c = args.requests, args.concurrency

    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    server = context.Process(target=serve, args=(port_out,), daemon=True)
    server.start()
    try:
        port = port_out.get(timeout=60)
        url, flaky = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}/flaky"
        clients = {
            "weirdgen `openai` backend (aiohttp + tenacity)": lambda: time_weirdgen(url, n, c),
            "`openai` SDK, default httpx transport": lambda: time_sdk(url, n, c, "httpx", 0),
            "`openai` SDK, aiohttp transport": lambda: time_sdk(url, n, c, "aiohttp", 0),
        }
        time_weirdgen(url, 200, c)  # warm up imports and the server
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.repeats):
            for name, run in clients.items():
                rate, lost = run()
                assert lost == 0, f"{name}: {lost} requests lost without faults"
                rates[name].append(rate)
        flaky_ours = time_weirdgen(flaky, n, c)
        flaky_sdk = time_sdk(flaky, n, c, "httpx", 2)
        # Short waits, on a run long enough that the last retries' tail does not dominate,
        # each client beside its own 0%-429 rate on the same run length.
        short, long_n = f"http://127.0.0.1:{port}/flaky-short", 3 * n
        short_ours = time_weirdgen(short, long_n, c)
        plain_ours = time_weirdgen(url, long_n, c)
        short_sdk = time_sdk(short, long_n, c, "httpx", 2)
        plain_sdk = time_sdk(url, long_n, c, "httpx", 0)
    finally:
        server.terminate()
        server.join()

    ours = statistics.median(rates[next(iter(clients))])
    lines = [
        f"{n} chat requests at concurrency {c} to a local server that answers after "
        f"{LATENCY * 1000:.0f} ms; {machine()}; client and server share the machine. "
        f"Median of {args.repeats} alternating repeats "
        f"(`python benchmarks/bench_openai_client.py --repeats {args.repeats} --write`).",
        "",
        "| client | requests/s | relative to weirdgen |",
        "|---|---:|---:|",
    ]
    for name, values in rates.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:,.0f} | {median / ours:.2f} |")
    lines += [
        "",
        f"With 10% of answers 429 (Retry-After: 1): weirdgen lost {flaky_ours[1]} of {n} "
        f"({flaky_ours[0]:,.0f} requests/s, waits included); the SDK with its default "
        f"2 retries lost {flaky_sdk[1]} of {n}.",
        "",
        f"With 10% of answers 429 and `Retry-After: 0.1` (short waits, as rate limiters often "
        f"ask), {long_n} requests, each client beside its own 0%-429 run of the same length:",
        "",
        "| client | requests/s, 0% 429 | requests/s, 10% 429 | ratio | lost |",
        "|---|---:|---:|---:|---:|",
        f"| weirdgen `openai` backend | {plain_ours[0]:,.0f} | {short_ours[0]:,.0f} | "
        f"{short_ours[0] / plain_ours[0]:.2f} | {short_ours[1]} |",
        f"| `openai` SDK, httpx, 2 retries | {plain_sdk[0]:,.0f} | {short_sdk[0]:,.0f} | "
        f"{short_sdk[0] / plain_sdk[0]:.2f} | {short_sdk[1]} |",
        "",
        f"(At {n} requests the same ratio is lower for weirdgen, about 0.65, because the run "
        "lasts little more than a second and the last retried requests, 0.2 s each, make its "
        "tail.)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("## API client: `openai` backend", text)
    if ours < 700 or flaky_ours[1] or short_ours[0] < 0.7 * plain_ours[0]:
        raise SystemExit(
            f"below target: {ours:.0f} requests/s (>= 700), {flaky_ours[1]} lost, "
            f"{short_ours[0]:.0f} requests/s with short 429s (>= 70% of {plain_ours[0]:.0f})"
        )


if __name__ == "__main__":
    main()
