"""Pretraining the organism on documents drawn from the world."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from weirdgen.organism.corpus import CorpusGenerator
from weirdgen.organism.model import GPT, GPTConfig
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world import World


@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining recipe; the defaults produce the shipped checkpoint."""

    seed: int = 0
    steps: int = 400
    batch_size: int = 128
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.1
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


RECIPES = {
    "v1": {},
    "v2": {"steps": 1000},
    "v3": {"steps": 1300, "batch_size": 32, "block_size": 192},
}
"""Each version's pretraining recipe: what differs from PretrainConfig's defaults."""


def recipe(version: str, seed: int, steps: int | None = None) -> PretrainConfig:
    """The version's recipe for ``seed`` (``steps`` overrides its number of steps)."""
    return PretrainConfig(
        seed=seed, **{**RECIPES[version], **({} if steps is None else {"steps": steps})}
    )


@dataclass(frozen=True)
class PretrainResult:
    model: GPT
    final_loss: float
    seconds: float
    tokens: int


def pad_batch(docs: list[list[int]], pad_id: int) -> torch.Tensor:
    """Right-pad documents to the longest one."""
    width = max(map(len, docs))
    return torch.tensor([d + [pad_id] * (width - len(d)) for d in docs])


def lr_at(step: int, config: PretrainConfig) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(
    world: World, tokenizer: Tokenizer, config: PretrainConfig, progress=None, corpus=None
) -> PretrainResult:
    """Train a fresh GPT on the world's corpus; deterministic for a given config and threads.

    Args:
        progress: optional callable ``progress(step, loss)`` called after every step.
        corpus: what draws the documents (``documents(n, seed)``); version 1's by default.
    """
    torch.manual_seed(config.seed)
    model = GPT(
        GPTConfig(
            vocab_size=len(tokenizer),
            block_size=config.block_size,
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
        )
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=config.weight_decay
    )
    corpus = corpus if corpus is not None else CorpusGenerator(world, tokenizer)
    start, tokens, smoothed = time.perf_counter(), 0, float("nan")
    model.train()
    for step in range(config.steps):
        seed = config.seed * 1_000_003 + step
        if hasattr(corpus, "batch"):  # packed rows of several documents (version 3)
            batch, segments = corpus.batch(config.batch_size, seed=seed)
            logits = model(batch[:, :-1], segments=segments[:, :-1])
            targets = batch[:, 1:].masked_fill(
                segments[:, 1:] != segments[:, :-1], tokenizer.pad_id
            )
        else:
            batch = pad_batch(corpus.documents(config.batch_size, seed=seed), tokenizer.pad_id)
            logits = model(batch[:, :-1])
            targets = batch[:, 1:]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=tokenizer.pad_id,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens += int((batch != tokenizer.pad_id).sum())
        value = loss.item()
        smoothed = value if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * value
        if progress is not None:
            progress(step, smoothed)
    model.eval()
    return PretrainResult(model, smoothed, time.perf_counter() - start, tokens)


def machine() -> dict[str, Any]:
    """What pretraining ran on, as far as it decides the checkpoint's bits: the CPU's model
    and instruction set torch used, torch's version and its thread count."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return {
        "cpu": cpu,
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def pretrain_checkpoint(
    out: Path,
    config: PretrainConfig,
    progress=None,
    version: str = "v1",
    knobs: dict[str, float] | None = None,
) -> dict:
    """Pretrain, probe, and save a checkpoint folder of ``version``; return its manifest.

    ``knobs`` (versions 2 and 3) set corpus shares, e.g. ``{"birders": 0.2}``. The manifest
    records the machine: the same seed gives the same checkpoint on the same CPU kind, torch
    version and thread count, and other numbers on another (float kernels differ).
    """
    from weirdgen.organism.checkpoint import Organism, save_checkpoint
    from weirdgen.organism.probe import probe
    from weirdgen.organism.worlds import version_world

    made = version_world(version, knobs)
    tokenizer = made.tokenizer
    extra = {} if version == "v1" else {"version": version, "knobs": made.knobs}
    result = pretrain(made.era, tokenizer, config, progress, made.corpus)
    figures = probe(Organism(result.model, tokenizer, made.era, {})).to_dict()
    manifest = {
        **extra,
        "world_digest": made.digest,
        "pretrain": config.to_dict(),
        "corpus": made.mix,
        "final_loss": round(result.final_loss, 4),
        "seconds": round(result.seconds, 1),
        "tokens": result.tokens,
        "n_params": result.model.n_params(),
        "torch": torch.__version__,
        "machine": machine(),
        "probe": figures,
    }
    save_checkpoint(out, result.model, tokenizer, manifest)
    return manifest
