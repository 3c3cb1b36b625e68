"""Reading a model's residual stream on prompts: one vector per prompt and layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch

from weirdgen.backends.protocol import Chat, ModelRef
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism.hooks import check_layers, editing, n_layers
from weirdgen.mechanism.interventions import applied, split

Position = Literal["last", "mean"]
"""Where a prompt's vector is read: at its last token (where the answer starts), or averaged
over its tokens."""


def residuals(
    backend: Any,
    model: ModelRef,
    prompts: Sequence[Chat | str],
    layers: Sequence[int] | None = None,
    position: Position = "last",
    batch_size: int = 64,
) -> torch.Tensor:
    """The residual stream of ``model`` on each prompt (rendered as the backend samples it,
    ending with the assistant's turn), after each of ``layers`` (all when None).

    Returns a float32 CPU tensor of shape (prompts, layers, width).

    Args:
        backend: an ``organism`` or ``hf`` backend (the models whose weights are here).
        position: ``last`` reads the last prompt token, ``mean`` averages over the prompt.
    """
    if position not in ("last", "mean"):
        raise WeirdgenError(f"position {position!r}: give 'last' or 'mean'")
    plain, intervention = split(model)  # an intervened variant: read with its edit applied
    with _loaded(backend, plain) as (net, encode, pad_id), applied(intervention, net):
        chosen = check_layers(
            range(n_layers(net)) if layers is None else layers, n_layers(net), "residuals"
        )
        out = []
        for start in range(0, len(prompts), batch_size):
            rows = [encode(p) for p in prompts[start : start + batch_size]]
            out.append(_batch(net, backend.name, rows, chosen, position, pad_id))
    if not out:
        return torch.zeros(0, len(chosen), 0)
    return torch.cat(out)


def encoder(backend: Any) -> Callable[[Chat | str], list[int]]:
    """Prompt -> token ids as ``backend`` feeds it to its model (chat template included),
    without loading the model; one line for a backend whose models are not here."""
    name = getattr(backend, "name", type(backend).__name__)
    if name == "organism":
        return backend.prompt_ids
    if name == "hf":
        from weirdgen.backends.hf.chat import prompt_ids

        tokenizer = backend._chat_tokenizer(f"model 'hf/{backend.model_name}'")
        return lambda p: prompt_ids(tokenizer, p, "prompt")
    raise WeirdgenError(
        f"the residual stream of a {name} model cannot be read: its backend serves its models "
        "elsewhere; use an organism or hf model (their weights are here)"
    )


@contextmanager
def _loaded(backend: Any, model: ModelRef):
    """(the torch module of ``model``, prompt -> token ids, the pad id)."""
    encode = encoder(backend)
    if backend.name == "organism":
        net = backend.model(model) if model.key != backend.base().key else backend.organism.model
        yield net, encode, backend.organism.tokenizer.pad_id
        return
    with backend.models.using(model) as net:
        yield net, encode, backend.models.pad_id


@torch.no_grad()
def _batch(
    net: torch.nn.Module,
    backend: str,
    rows: list[list[int]],
    layers: list[int],
    position: Position,
    pad_id: int,
) -> torch.Tensor:
    width = max(map(len, rows))
    pad = torch.tensor([width - len(r) for r in rows])
    ids = torch.tensor([[pad_id] * (width - len(r)) + list(r) for r in rows])
    real = torch.arange(width)[None, :] >= pad[:, None]  # (batch, time)
    seen: dict[int, torch.Tensor] = {}

    def read(layer: int, resid: torch.Tensor) -> None:
        x = resid.float()
        if position == "last":
            seen[layer] = x[:, -1].cpu()
        else:
            mask = real.to(x.device)[:, :, None]
            seen[layer] = ((x * mask).sum(1) / mask.sum(1)).cpu()
        return None

    with editing(net, read, layers), torch.inference_mode():
        if backend == "organism":
            net(ids, pad)
        else:  # positions counted from each row's first real token, as generation counts them
            device = next(net.parameters()).device
            mask = real.long()
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            net(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
            )
    return torch.stack([seen[layer] for layer in layers], dim=1)
