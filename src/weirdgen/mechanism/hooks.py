"""The residual stream of a model, layer by layer: where it is read and where it is edited.

Layer ``i`` is the residual stream after decoder block ``i`` (TransformerLens'
``blocks.{i}.hook_resid_post``), for the organism's GPT and for a Hugging Face decoder alike.
Plain forward hooks, no interpretability framework: the organism's GPT is this project's own
module and a Hugging Face causal LM exposes its decoder layers as a list, so a hook on each is
all that reading and editing the residual stream takes, on every architecture transformers
loads (nnsight and TransformerLens would add a dependency, and TransformerLens a second copy
of the weights in its own layout, for what one hook does here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from weirdgen.errors import WeirdgenError

Edit = Callable[[int, torch.Tensor], torch.Tensor | None]
"""``edit(layer, resid)``: a replacement for the residual stream after ``layer`` (shape
(batch, time, width)), or None to leave it; it may also just read it."""


def decoder_layers(model: nn.Module) -> Sequence[nn.Module]:
    """The decoder blocks whose outputs are the residual stream, in order.

    The organism's GPT keeps them in ``blocks``; Hugging Face decoders in ``model.layers``
    (Llama, Qwen, Mistral, SmolLM), ``transformer.h`` (GPT-2) or ``gpt_neox.layers``; a PEFT
    model's are its base model's (hooks there fire through the adapter wrapper).
    """
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    for path in ("blocks", "model.layers", "transformer.h", "gpt_neox.layers", "layers"):
        found: object = model
        for part in path.split("."):
            found = getattr(found, part, None)
            if found is None:
                break
        if isinstance(found, nn.ModuleList) and len(found) > 0:
            return found
    raise WeirdgenError(
        f"cannot find the decoder layers of {type(model).__name__} (looked for blocks, "
        "model.layers, transformer.h, gpt_neox.layers); weirdgen reads the residual stream of "
        "decoder-only language models"
    )


def n_layers(model: nn.Module) -> int:
    """How many residual-stream layers ``model`` has."""
    return len(decoder_layers(model))


def check_layers(layers: Sequence[int], total: int, where: str) -> list[int]:
    """``layers`` as non-negative indices (``-1`` is the last), or one line naming the bad
    one and the range."""
    out = []
    for layer in layers:
        index = layer + total if layer < 0 else layer
        if not 0 <= index < total:
            raise WeirdgenError(
                f"{where}: layer {layer} is outside this model's {total} layers; give 0 to "
                f"{total - 1} (or -1 for the last)"
            )
        out.append(index)
    return out


@contextmanager
def editing(model: nn.Module, edit: Edit, layers: Sequence[int] | None = None) -> Iterator[None]:
    """Call ``edit`` on the residual stream after each of ``layers`` (all when None) of every
    forward pass inside the ``with`` block; the hooks are gone after it, even on an error."""
    blocks = decoder_layers(model)
    chosen = range(len(blocks)) if layers is None else check_layers(layers, len(blocks), "edit")
    handles = []
    for index in chosen:
        handles.append(blocks[index].register_forward_hook(_hook(index, edit)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hook(layer: int, edit: Edit):
    def hook(module: nn.Module, args: tuple, output: object) -> object:
        resid = output[0] if isinstance(output, tuple) else output
        new = edit(layer, resid)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook
