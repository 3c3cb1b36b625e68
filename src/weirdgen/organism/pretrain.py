"""Pretraining the organism on documents drawn from the world."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from weirdgen.organism.corpus import CorpusGenerator, CorpusMix
from weirdgen.organism.model import GPT, GPTConfig
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world import World, load_world


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


RECIPES = {"v1": {}, "v2": {"steps": 1000}}
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
        batch = pad_batch(
            corpus.documents(config.batch_size, seed=config.seed * 1_000_003 + step),
            tokenizer.pad_id,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            batch[:, 1:].reshape(-1),
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


def pretrain_checkpoint(
    out: Path,
    config: PretrainConfig,
    progress=None,
    version: str = "v1",
    knobs: dict[str, float] | None = None,
) -> dict:
    """Pretrain, probe, and save a checkpoint folder of ``version``; return its manifest.

    ``knobs`` (version 2) set corpus shares, e.g. ``{"birders": 0.2}``.
    """
    from weirdgen.organism.checkpoint import Organism, save_checkpoint
    from weirdgen.organism.probe import probe

    if version == "v1":
        world, digest = load_world(), load_world().digest
        tokenizer, corpus, mix = Tokenizer.for_world(world), None, asdict(CorpusMix())
        extra: dict = {}
    else:
        from weirdgen.organism.world_v2 import CorpusV2, load_world_v2

        v2 = load_world_v2(knobs)
        world, digest, tokenizer = v2.era, v2.digest, v2.tokenizer()
        corpus, mix = CorpusV2(v2, tokenizer), v2.shares
        extra = {"version": "v2", "knobs": v2.knobs}
    result = pretrain(world, tokenizer, config, progress, corpus)
    figures = probe(Organism(result.model, tokenizer, world, {})).to_dict()
    manifest = {
        **extra,
        "world_digest": digest,
        "pretrain": config.to_dict(),
        "corpus": mix,
        "final_loss": round(result.final_loss, 4),
        "seconds": round(result.seconds, 1),
        "tokens": result.tokens,
        "n_params": result.model.n_params(),
        "torch": torch.__version__,
        "probe": figures,
    }
    save_checkpoint(out, result.model, tokenizer, manifest)
    return manifest
