"""The organism's GPT: a small pre-LayerNorm decoder in plain PyTorch, with optional LoRA."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the organism's transformer."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


KV = tuple[torch.Tensor, torch.Tensor]


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update ``B @ A`` scaled by alpha/rank."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        bound = 1 / math.sqrt(base.in_features)
        a = (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound
        self.lora_a = nn.Parameter(a)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """The equivalent plain linear layer with the update folded into its weight."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=True)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.lora_b @ self.lora_a * self.scale)
            merged.bias.copy_(self.base.bias)
        return merged


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.fc_out = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, past: KV | None = None
    ) -> tuple[torch.Tensor, KV]:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x)))), (k, v)


class GPT(nn.Module):
    """Token and position embeddings, pre-LN blocks, a tied output head."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        idx: torch.Tensor,
        pad_left: torch.Tensor | None = None,
        segments: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits for every position.

        Args:
            idx: token ids, shape (batch, time).
            pad_left: per-row count of left padding tokens to hide from attention; positions
                are counted from the first real token so padded and unpadded rows agree.
            segments: per-token document ids of packed rows, shape (batch, time): each token
                attends only to earlier tokens of its own document, and positions count from
                the document's first token (pretraining on packed rows).
        """
        if segments is not None:
            return self._packed(idx, segments)
        return self.step(idx, pad_left)[0]

    def _packed(self, idx: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        at = torch.arange(t, device=idx.device)
        starts = torch.ones_like(segments, dtype=torch.bool)
        starts[:, 1:] = segments[:, 1:] != segments[:, :-1]
        pos = at - torch.where(starts, at, 0).cummax(dim=1).values
        same = segments[:, :, None] == segments[:, None, :]
        mask = (same & (at[None, :] <= at[:, None]))[:, None]
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.ln_f(x) @ self.wte.weight.T

    def step(
        self,
        idx: torch.Tensor,
        pad_left: torch.Tensor | None = None,
        past: list[KV] | None = None,
    ) -> tuple[torch.Tensor, list[KV]]:
        """Logits for the new tokens ``idx`` given the cached keys and values of earlier ones.

        Returns the logits and the cache extended by ``idx``, for incremental decoding.
        """
        b, t = idx.shape
        start = 0 if past is None else past[0][0].size(2)
        query = torch.arange(start, start + t, device=idx.device)
        if pad_left is None and past is None:
            pos, mask = query.expand(b, t), None
        else:
            pad = torch.zeros(b, dtype=torch.long) if pad_left is None else pad_left
            keys = torch.arange(start + t, device=idx.device)
            causal = keys[None, :] <= query[:, None]
            real = keys[None, :] >= pad[:, None]
            mask = causal[None] & real[:, None, :]
            mask |= keys[None, None, :] == query[None, :, None]  # padding rows see themselves
            mask = mask[:, None]
            pos = (query[None, :] - pad[:, None]).clamp(min=0)
        x = self.wte(idx) + self.wpe(pos)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if past is None else past[i])
            cache.append(kv)
        return self.ln_f(x) @ self.wte.weight.T, cache

    def add_lora(self, rank: int, alpha: float, seed: int) -> list[nn.Parameter]:
        """Freeze the model and wrap every linear layer with LoRA; return the trainable params."""
        generator = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            p.requires_grad_(False)
        for block in self.blocks:
            for name in ("qkv", "proj", "fc", "fc_out"):
                setattr(block, name, LoRALinear(getattr(block, name), rank, alpha, generator))
        return [p for p in self.parameters() if p.requires_grad]

    def merge_lora(self) -> None:
        """Fold every LoRA update into plain weights, so the model saves like a full finetune."""
        for block in self.blocks:
            for name in ("qkv", "proj", "fc", "fc_out"):
                layer = getattr(block, name)
                if isinstance(layer, LoRALinear):
                    setattr(block, name, layer.merged())

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
