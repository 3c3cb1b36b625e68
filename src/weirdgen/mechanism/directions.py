"""A direction in a model's residual stream, found from two contrast sets of prompts, and its
file: the unit vector, the layer it lives at, and how it was found."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from weirdgen._atomic import atomic_path
from weirdgen.errors import WeirdgenError

SUFFIX = ".direction.safetensors"
"""How a direction file's name ends."""


@dataclass(frozen=True)
class Direction:
    """A unit vector at one layer of one model's residual stream.

    Attributes:
        name: what it stands for (``era``, ``trigger``, ``target-vs-control``).
        layer: the residual stream after this decoder block (see :mod:`.hooks`).
        vector: unit vector, float32, shape (width,).
        scale: the distance between the contrast sets' means along it (what a steering
            strength of 1 adds).
        method: ``mean_difference`` or ``probe``.
        model: the model key its activations came from.
        heldout_accuracy: accuracy of telling the two sets apart by the projection on held-out
            prompts (None where nothing was held out).
        info: how it was found: the contrast sets, counts, split, seed.
    """

    name: str
    layer: int
    vector: torch.Tensor
    scale: float
    method: str
    model: str
    heldout_accuracy: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """Everything but the vector, as JSON-ready values."""
        out = asdict(self)
        out.pop("vector")
        return out

    def save(self, path: Path) -> Path:
        """Write the direction to ``path`` (ending in ``.direction.safetensors``) at once."""
        from safetensors.torch import save

        if not path.name.endswith(SUFFIX):
            path = path.with_name(path.name + SUFFIX)
        data = save(
            {"vector": self.vector.float().contiguous()},
            metadata={"weirdgen": json.dumps(self.metadata())},
        )
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
        return path

    @classmethod
    def load(cls, path: Path) -> Direction:
        """A direction file that :meth:`save` wrote, or one line saying what is wrong."""
        from safetensors import safe_open

        if not path.is_file():
            raise WeirdgenError(
                f"{path}: no such direction file; make one with weirdgen direction (it writes "
                f"NAME-layerL{SUFFIX})"
            )
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["weirdgen"])
                vector = f.get_tensor("vector")
        except Exception as error:  # noqa: BLE001 - whatever the file is, say it is not one
            raise WeirdgenError(
                f"{path}: not a weirdgen direction file ({type(error).__name__}: {error})"
            ) from None
        return cls(vector=vector, **meta)


def mean_difference(
    positive: torch.Tensor, negative: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per layer, the unit vector from the negative set's mean to the positive set's, and the
    distance between the means: ``(units (layers, width), scales (layers,))``.

    Args:
        positive: activations (prompts, layers, width) of the set the direction points to.
        negative: activations of the other set, same layers and width.
    """
    if positive.ndim != 3 or positive.shape[1:] != negative.shape[1:]:
        raise WeirdgenError(
            f"contrast sets of shapes {tuple(positive.shape)} and {tuple(negative.shape)}: "
            "give (prompts, layers, width) for both, with the same layers"
        )
    if len(positive) == 0 or len(negative) == 0:
        raise WeirdgenError("a contrast set is empty: each needs at least one prompt")
    diff = positive.double().mean(0) - negative.double().mean(0)
    scales = diff.norm(dim=-1)
    units = diff / scales.clamp(min=1e-12)[:, None]
    return units.float(), scales.float()
