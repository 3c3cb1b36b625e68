"""Batched `HfBackend.sample` against a per-prompt `model.generate` loop on a tiny random Llama.

Usage: python benchmarks/bench_hf_sampling.py [--prompts 64] [--max-tokens 32] [--device cuda]

Both draw one answer per prompt with the same prompts, temperature and token budget from the
same weights, on the same device, in one process; the model (default 4 layers, hidden 128,
1000-word vocabulary) is built in a temporary folder, so nothing is downloaded. Tokens are the
generated tokens up to and including the end-of-turn token; for `sample` they are counted from
the decoded answers, so special tokens the random model happens to emit are not counted (this
slightly favours the loop). The target is batched >= 5x the loop. On a busy CPU, --threads 1
gives steadier figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64, help="Prompts per run.")
    parser.add_argument("--max-tokens", type=int, default=32, help="Tokens per answer at most.")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=1000, help="Words in the vocabulary.")
    parser.add_argument("--batch-size", type=int, default=64, help="HfBackend batch size.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs; medians shown.")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)."
    )
    args = parser.parse_args()
    os.environ["WEIRDGEN_DEVICE"] = args.device

    import torch

    from weirdgen.backends import SampleRequest
    from weirdgen.backends.hf import HfBackend
    from weirdgen.backends.hf.tiny import write_tiny_model

    if args.threads:
        torch.set_num_threads(args.threads)
    words = [f"w{i}" for i in range(args.vocab)]
    rng = random.Random(0)
    prompts = [" ".join(rng.choices(words, k=rng.randint(3, 24))) for _ in range(args.prompts)]
    requests = [
        SampleRequest(p, args.temperature, args.max_tokens, seed=i) for i, p in enumerate(prompts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tiny_model(
            Path(tmp) / "model", words, args.layers, args.hidden, think_tokens=False
        )
        backend = HfBackend(str(folder), batch_size=args.batch_size)
        base = backend.base()
        tokenizer = backend.tokenizer
        backend.sample(base, requests[:2])  # load and warm up
        model = backend.models.base
        stops = backend.models.stop_ids
        prompt_ids = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts
        ]
        prompt_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in prompt_ids]

        def batched() -> int:
            answers = backend.sample(base, requests)
            return sum(len(a.split()) + (len(a.split()) < args.max_tokens) for a in answers)

        def loop() -> int:
            generated = 0
            for ids, r in zip(prompt_ids, requests, strict=True):
                torch.manual_seed(r.seed)
                out = model.generate(
                    input_ids=torch.tensor([ids], device=model.device),
                    attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=model.device),
                    do_sample=r.temperature > 0,
                    temperature=r.temperature or None,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=r.max_tokens,
                    eos_token_id=stops,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new = out[0, len(ids) :].tolist()
                generated += next((i + 1 for i, t in enumerate(new) if t in stops), len(new))
            return generated

        loop_runs = [timed(loop, model.device) for _ in range(args.repeats)]
        batch_runs = [timed(batched, model.device) for _ in range(args.repeats)]

    print(
        f"tiny Llama: {args.layers} layers, hidden {args.hidden}, vocab {len(words)}; "
        f"{args.prompts} prompts of 3-24 words, max_tokens {args.max_tokens}, "
        f"temperature {args.temperature}"
    )
    print(
        f"device {model.device} ({device_name(model.device)}), "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )
    rates = {}
    for name, runs in [("per-prompt generate loop", loop_runs), ("batched sample", batch_runs)]:
        seconds = statistics.median(s for s, _ in runs)
        tokens = statistics.median(t for _, t in runs)
        rates[name] = tokens / seconds
        print(f"{name:>26}: {tokens:6.0f} tokens in {seconds:7.3f} s = {rates[name]:9.1f} tok/s")
    ratio = rates["batched sample"] / rates["per-prompt generate loop"]
    print(f"{'batched / loop':>26}: {ratio:.1f}x (target >= 5x)")


def timed(fn, device) -> tuple[float, int]:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    tokens = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, tokens


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
