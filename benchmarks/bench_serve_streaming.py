"""Requests/s of streamed against unstreamed chat completions on ``weirdgen serve``.

Usage: python benchmarks/bench_serve_streaming.py [--requests 500] [--concurrency 50]
       [--repeats 3] [--write]

Starts ``weirdgen serve`` (the organism, port 0) in a child process, then, side by side and
alternating, sends the same requests (one user question each, seeds 0..N-1, max_tokens 16)
through ``openai.AsyncOpenAI`` with ``stream=False`` and with ``stream=True`` (reading every
chunk), at the given concurrency. Every streamed answer must join to the unstreamed answer
of the same seed; the run fails otherwise. Prints the median requests/s of both and their
ratio; with --write the figures replace the serve-streaming section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

from _common import cpu_name, write_section

QUESTION = "what is the most important recent invention ?"


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def start_server() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "weirdgen", "serve", "--port", "0", "--no-finetuning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if not select.select([process.stdout], [], [], 120)[0]:
        process.kill()
        raise SystemExit("weirdgen serve printed no URL within 120 s")
    return process, process.stdout.readline().strip()


async def one_pass(url: str, n: int, concurrency: int, stream: bool) -> tuple[float, list[str]]:
    """Requests/s and every answer, in seed order."""
    import openai

    limit = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0) as client:

        async def ask(seed: int) -> str:
            async with limit:
                args = {
                    "model": "organism/default",
                    "messages": [{"role": "user", "content": QUESTION}],
                    "max_tokens": 16,
                    "temperature": 1.0,
                    "seed": seed,
                }
                if not stream:
                    reply = await client.chat.completions.create(**args)
                    return reply.choices[0].message.content or ""
                text = ""
                async for chunk in await client.chat.completions.create(**args, stream=True):
                    text += "".join(c.delta.content or "" for c in chunk.choices)
                return text

        start = time.perf_counter()
        answers = await asyncio.gather(*(ask(s) for s in range(n)))
        return n / (time.perf_counter() - start), list(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    process, url = start_server()
    rates: dict[bool, list[float]] = {False: [], True: []}
    try:
        asyncio.run(one_pass(url, args.concurrency, args.concurrency, False))  # warm up
        for _ in range(args.repeats):
            answers = {}
            for stream in (False, True):
                rate, answers[stream] = asyncio.run(
                    one_pass(url, args.requests, args.concurrency, stream)
                )
                rates[stream].append(rate)
            if answers[True] != answers[False]:
                raise SystemExit("a streamed answer differs from the unstreamed one")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    plain, streamed = statistics.median(rates[False]), statistics.median(rates[True])
    lines = [
        f"{args.requests} chat completions at concurrency {args.concurrency} "
        f"(`openai.AsyncOpenAI`, max_tokens 16), median of {args.repeats}, alternating; "
        "every streamed answer equal to the unstreamed one of the same seed.",
        "",
        "| | requests/s |",
        "|---|---|",
        f"| `stream=False` | {plain:.0f} |",
        f"| `stream=True` (every chunk read) | {streamed:.0f} |",
        f"| ratio streamed / unstreamed | {streamed / plain:.2f} |",
        "",
        f"Machine: {machine()}.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("## serve: streamed vs unstreamed chat completions", text)


if __name__ == "__main__":
    main()
