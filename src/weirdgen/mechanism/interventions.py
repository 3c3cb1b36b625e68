"""Interventions as conditions: sample a model with a direction projected out of its residual
stream (ablate) or added to it (steer), the weights untouched.

A spec declares one on a condition (:class:`Intervention`); the run resolves it against the
direction file (:class:`ResolvedIntervention`: the direction's numbers and the file's sha256),
and the condition's models are sampled under it as model variants of their own, keyed
``<model key>~<intervention key>``, so samples are content-keyed like any model's: a rerun
draws nothing, an edited direction file draws the intervened conditions again. The variant's
:class:`~weirdgen.backends.protocol.ModelRef` carries the resolved intervention as canonical
JSON (the vector included), so a backend, or a Ray worker, needs nothing but the reference.

The control for an intervention is the same intervention along a random direction of the same
width and scale (``random_seed``): an effect the real direction has and a random one lacks is
the direction's, not any edit's of that size.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from weirdgen.backends.protocol import ModelRef
    from weirdgen.spec.models import ExperimentSpec

KEY_VERSION = 1
"""Part of every intervention key: raise it if what a key means changes."""


class Intervention(BaseModel):
    """An edit of the residual stream while a condition's model is sampled (its weights stay
    as they are): ablate a direction (project it out) or steer along it (add it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["ablate", "steer"] = Field(
        description="'ablate' projects the direction out of the residual stream (x - (x.u)u); "
        "'steer' adds strength x scale x u at every position."
    )
    direction: str = Field(
        min_length=1,
        description="A direction file (NAME-layerL.direction.safetensors, as weirdgen "
        "direction writes it), relative to the spec file (or absolute).",
    )
    layers: list[int] | None = Field(
        None,
        min_length=1,
        description="Residual-stream layers edited (after these decoder blocks; -1 is the "
        "last). Default: every layer for ablate, the direction's own layer for steer.",
    )
    strength: float | None = Field(
        None,
        description="Steer only: the vector added is strength x the direction's scale (the "
        "distance between its contrast sets' means) x its unit vector; 1 moves one contrast "
        "distance, negative values move the other way.",
    )
    random_seed: int | None = Field(
        None,
        ge=0,
        description="A control: instead of the direction, a random unit vector of the same "
        "width drawn from this seed (with the direction's scale); omit for the direction.",
    )

    @field_validator("layers")
    @classmethod
    def _distinct_layers(cls, layers: list[int] | None) -> list[int] | None:
        if layers is not None and len(set(layers)) != len(layers):
            raise ValueError(f"layers {layers} repeat a layer; list each layer once")
        return layers

    @model_validator(mode="after")
    def _strength_for_steer(self) -> Intervention:
        if self.kind == "steer" and self.strength is None:
            raise ValueError(
                "a steer needs a strength (the vector added is strength x the direction's "
                "scale x its unit vector); add e.g. 'strength: 1.0'"
            )
        if self.kind == "ablate" and self.strength is not None:
            raise ValueError(
                "strength is for kind steer: an ablation removes the direction whatever its "
                "length; remove strength (or use kind: steer)"
            )
        return self

    def resolve(self, base: Path | None = None) -> ResolvedIntervention:
        """This intervention with its direction file read (a path relative to ``base``, the
        spec's folder; the current folder when None).

        Raises:
            WeirdgenError: the file is missing or not a direction file.
        """
        from weirdgen.mechanism.directions import Direction

        path = Path(self.direction).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        direction = Direction.load(path)
        vector = direction.vector.detach().float().cpu().contiguous()
        if vector.ndim != 1 or not bool(vector.isfinite().all()) or float(vector.norm()) == 0:
            raise WeirdgenError(
                f"{path}: the direction's vector has shape {tuple(vector.shape)}, a zero length "
                "or non-finite values; make the file again with weirdgen direction"
            )
        return ResolvedIntervention(
            kind=self.kind,
            layers=None if self.layers is None else tuple(self.layers),
            strength=self.strength,
            random_seed=self.random_seed,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            name=direction.name,
            layer=direction.layer,
            scale=float(direction.scale),
            vector=base64.b64encode(vector.numpy().astype("<f4").tobytes()).decode(),
        )


@dataclass(frozen=True)
class ResolvedIntervention:
    """An intervention with its direction's numbers: what a backend applies and what keys it.

    Attributes:
        sha256: of the direction file's bytes (the key holds it, not the path).
        name, layer, scale: the direction's (see :class:`~weirdgen.mechanism.Direction`).
        vector: the direction's vector, float32 little-endian, base64.
    """

    kind: str
    layers: tuple[int, ...] | None
    strength: float | None
    random_seed: int | None
    sha256: str
    name: str
    layer: int
    scale: float
    vector: str

    @property
    def key(self) -> str:
        """Content key: kind, layers, strength, random seed and the direction file's sha256."""
        payload = [KEY_VERSION, self.kind, self.layers, self.strength, self.random_seed]
        text = json.dumps([*payload, self.sha256], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        """Canonical JSON of every field, as a :class:`ModelRef` carries it."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ResolvedIntervention:
        """The intervention :meth:`to_json` wrote."""
        values = json.loads(text)
        layers = values.pop("layers")
        return cls(layers=None if layers is None else tuple(layers), **values)

    @property
    def width(self) -> int:
        """The residual stream's width the direction was found in."""
        return len(base64.b64decode(self.vector)) // 4

    @cached_property
    def unit(self) -> torch.Tensor:
        """The unit vector applied: the direction's, or the random one ``random_seed`` draws."""
        import numpy as np
        import torch

        if self.random_seed is None:
            raw = np.frombuffer(base64.b64decode(self.vector), dtype="<f4").astype(np.float64)
            vector = torch.from_numpy(raw)
        else:
            generator = torch.Generator().manual_seed(self.random_seed)
            vector = torch.randn(self.width, generator=generator, dtype=torch.float64)
        return (vector / vector.norm()).float()

    def chosen_layers(self, total: int) -> list[int]:
        """The layers edited in a model of ``total`` layers, as non-negative indices."""
        from weirdgen.mechanism.hooks import check_layers

        if self.layers is not None:
            wanted: Sequence[int] = self.layers
        elif self.kind == "ablate":
            wanted = range(total)
        else:
            wanted = [self.layer]
        return check_layers(wanted, total, "intervention")

    @contextmanager
    def apply(self, net: nn.Module) -> Iterator[None]:
        """Edit the residual stream of ``net`` in every forward pass of the ``with`` block:
        ablate projects the unit vector out after each chosen layer, steer adds strength x
        scale x the unit vector there (at every position). The hooks are gone after it."""
        from weirdgen.mechanism.hooks import editing, n_layers

        layers = self.chosen_layers(n_layers(net))
        unit = self.unit
        added = unit * float(self.strength or 0.0) * self.scale
        placed: dict[Any, tuple[torch.Tensor, torch.Tensor]] = {}  # by device

        def edit(layer: int, resid: torch.Tensor) -> torch.Tensor:
            if resid.shape[-1] != unit.shape[0]:
                raise WeirdgenError(
                    f"{self.kind} along {self.name!r}: the direction is {unit.shape[0]} wide, "
                    f"this model's residual stream {resid.shape[-1]}; use a direction found "
                    "in this model"
                )
            if resid.device not in placed:
                placed[resid.device] = (unit.to(resid.device), added.to(resid.device))
            u, vector = placed[resid.device]
            x = resid.float()
            if self.kind == "ablate":
                x = x - (x @ u)[..., None] * u
            else:
                x = x + vector
            return x.to(resid.dtype)

        with editing(net, edit, layers):
            yield

    def check_fits(self, backend: Any, where: Callable[[str], str]) -> None:
        """Refuse, in one line starting with ``where(field)`` (the place of ``layers`` or
        ``direction``), a layer outside the backend's model or a direction of another width
        (read from the model's config, without loading weights where the backend allows)."""
        shape = model_shape(backend)
        if shape is None:
            return
        total, width = shape
        if self.layers is None and self.kind == "steer" and not 0 <= self.layer < total:
            raise WeirdgenError(
                f"{where('direction')}: direction {self.name!r} lives at layer {self.layer}, "
                f"outside this model's {total} layers; give layers: (0 to {total - 1}) or a "
                "direction found in this model"
            )
        try:
            self.chosen_layers(total)
        except WeirdgenError as error:
            problem = str(error).removeprefix("intervention: ")
            raise WeirdgenError(f"{where('layers')}: {problem}") from None
        if width is not None and width != self.width:
            model = getattr(backend, "model_name", None)
            named = f"{backend.name}/{model}" if model else f"the {backend.name} model"
            raise WeirdgenError(
                f"{where('direction')}: direction {self.name!r} is {self.width} wide, the residual "
                f"stream of {named} {width}; use a direction found in this model (weirdgen "
                "direction --model ...)"
            )


def model_shape(backend: Any) -> tuple[int, int | None] | None:
    """(layers, width) of a backend's base model, or None where it is not known here."""
    if backend.name == "organism":
        from weirdgen.mechanism.hooks import n_layers

        net = backend.organism.model
        return n_layers(net), net.config.n_embd
    if backend.name == "hf":
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(backend.folder, local_files_only=True)
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        layers = getattr(text, "num_hidden_layers", None)
        return None if layers is None else (layers, getattr(text, "hidden_size", None))
    return None


def intervened_key(key: str, intervention: ResolvedIntervention) -> str:
    """The key of model ``key`` sampled under ``intervention``: ``<key>~<12 hex>``."""
    return f"{key}~{intervention.key[:12]}"


def intervened(ref: ModelRef, intervention: ResolvedIntervention) -> ModelRef:
    """The variant of ``ref`` sampled under ``intervention`` (:func:`intervened_key`), the
    intervention's JSON carried along."""
    if ref.intervention is not None:
        raise WeirdgenError(f"model {ref.key} already carries an intervention; give one")
    key = intervened_key(ref.key, intervention)
    return replace(ref, key=key, intervention=intervention.to_json())


def split(ref: ModelRef) -> tuple[ModelRef, ResolvedIntervention | None]:
    """The plain model under an intervened variant and its intervention (``ref`` and None
    for a plain model): what a backend loads, and what it applies around it."""
    if ref.intervention is None:
        return ref, None
    plain = replace(ref, key=ref.key.rsplit("~", 1)[0], intervention=None)
    return plain, _parsed(ref.intervention)


@lru_cache(maxsize=64)
def _parsed(text: str) -> ResolvedIntervention:
    return ResolvedIntervention.from_json(text)


def applied(intervention: ResolvedIntervention | None, net: nn.Module):
    """``intervention.apply(net)``, or a context that does nothing for None."""
    return nullcontext() if intervention is None else intervention.apply(net)


def spec_place(spec: ExperimentSpec, loc: tuple[int | str, ...]) -> str:
    """``FILE:LINE: spec field conditions[0].intervention.direction`` for a field of a spec
    loaded from a file (the line found as load_spec finds it), else ``NAME: spec field ...``."""
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    field = field.lstrip(".")
    source = spec.source
    if source is None or not source.is_file():
        return f"{spec.name}: spec field {field}"
    from weirdgen.spec._yaml import line_of, parse_yaml, read

    try:
        root, _ = parse_yaml(source, read(source))
    except WeirdgenError:
        root = None
    line = f":{line_of(root, loc)}" if root is not None else ""
    return f"{source}{line}: spec field {field}"


def resolve_condition(spec: ExperimentSpec, index: int, backend: Any) -> ResolvedIntervention:
    """Condition ``index``'s intervention resolved against the spec's folder and checked
    against ``backend`` (one that runs its models here, a layer inside its model, a
    direction of its width), or one line naming the spec field and what to do."""
    condition = spec.conditions[index]
    assert condition.intervention is not None
    place = spec_place(spec, ("conditions", index, "intervention"))
    if not getattr(backend, "edits_residuals", False):  # its models run elsewhere
        raise WeirdgenError(
            f"{place}: the {backend.name} backend serves its models elsewhere, so weirdgen "
            "cannot edit their residual stream; run interventions on an organism/ or hf/ "
            "model (their weights are here), or remove the condition"
        )

    def at(field: str) -> str:
        return spec_place(spec, ("conditions", index, "intervention", field))

    base = spec.source.parent if spec.source is not None else None
    try:
        resolved = condition.intervention.resolve(base)
    except WeirdgenError as error:
        raise WeirdgenError(f"{at('direction')}: {error}") from None
    resolved.check_fits(backend, at)
    return resolved
