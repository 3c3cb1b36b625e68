"""The price table: USD per 1M tokens per model, from a YAML file a user can copy and edit.

The file is the first of: ``--prices FILE``; ``$WEIRDGEN_HOME/prices.yaml``; ``prices.yaml``
in the user config folder (``~/.config/weirdgen`` on Linux); the table shipped with weirdgen.
A file found replaces the shipped table as a whole. Models of local providers cost nothing;
any other model without an entry has no price (reported as unknown, never as 0).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen.errors import WeirdgenError
from weirdgen.spec._yaml import check_duplicate_keys, line_of, parse_yaml

LOCAL_PROVIDERS = frozenset({"organism", "hf", "vllm"})
"""Providers that run on this machine: their tokens cost nothing."""
FILE_NAME = "prices.yaml"
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class Price(BaseModel):
    """One model's prices in USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    input: float | None = Field(None, ge=0, description="USD per 1M prompt tokens.")
    output: float | None = Field(None, ge=0, description="USD per 1M completion tokens.")
    training: float | None = Field(
        None, ge=0, description="USD per 1M training tokens (dataset tokens x epochs)."
    )
    finetuned_input: float | None = Field(
        None, ge=0, description="USD per 1M prompt tokens of a finetune (default: input)."
    )
    finetuned_output: float | None = Field(
        None, ge=0, description="USD per 1M completion tokens of a finetune (default: output)."
    )

    def tokens(self, prompt: int, completion: int, finetuned: bool = False) -> float | None:
        """USD for ``prompt`` and ``completion`` tokens; None where a price needed is missing."""
        rate_in, rate_out = self.input, self.output
        if finetuned and self.finetuned_input is not None:
            rate_in = self.finetuned_input
        if finetuned and self.finetuned_output is not None:
            rate_out = self.finetuned_output
        if (prompt and rate_in is None) or (completion and rate_out is None):
            return None
        return (prompt * (rate_in or 0.0) + completion * (rate_out or 0.0)) / 1e6


FREE = Price(input=0, output=0, training=0)


@dataclass(frozen=True)
class PriceTable:
    """Prices by ``provider/name``, and the file they came from."""

    path: Path
    prices: dict[str, Price]

    def find(self, model: str) -> Price | None:
        """The price of ``model``: free for a local provider; else its entry, or its dated
        snapshot's model's entry (``gpt-4.1-mini-2025-04-14`` -> ``gpt-4.1-mini``); else None."""
        if model.partition("/")[0] in LOCAL_PROVIDERS:
            return FREE
        return self.prices.get(model) or self.prices.get(_SNAPSHOT.sub("", model))


def price_file(explicit: str | Path | None = None) -> Path:
    """The price file to read (see the module's docstring for the order)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeirdgenError(
                f"--prices {path}: no such file; give a price file (copy the shipped one, "
                "see docs/plan.md)"
            )
        return path
    home = os.environ.get("WEIRDGEN_HOME", "").strip()
    for folder in ([Path(home).expanduser()] if home else []) + [
        platformdirs.user_config_path("weirdgen")
    ]:
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    return shipped_prices()


def shipped_prices() -> Path:
    """The price table shipped with weirdgen."""
    return Path(str(resources.files("weirdgen.plan").joinpath(FILE_NAME)))


def load_prices(explicit: str | Path | None = None) -> PriceTable:
    """Read and check the price table; errors give file:line, the entry and the fix."""
    path = price_file(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise WeirdgenError(
            f"{path}: cannot read the price file ({error}); give a readable UTF-8 YAML file"
        ) from error
    root, data = parse_yaml(path, text)
    if root is not None:
        check_duplicate_keys(path, root)
    example = "models: {openai/gpt-4.1-mini: {input: 0.40, output: 1.60}}"
    if (
        not isinstance(data, dict)
        or set(data) != {"models"}
        or not isinstance(data["models"], dict)
    ):
        line = 1 if root is None else root.start_mark.line + 1
        raise WeirdgenError(
            f"{path}:{line}: a price file is one mapping 'models:' of provider/name entries; "
            f"write it like {example}"
        )
    prices: dict[str, Price] = {}
    for name, entry in data["models"].items():
        line = line_of(root, ("models", name))
        if not isinstance(name, str) or "/" not in name:
            raise WeirdgenError(
                f"{path}:{line}: price entry {name!r}: name the model as provider/name, "
                "e.g. openai/gpt-4.1-mini"
            )
        try:
            prices[name] = Price.model_validate(entry if entry is not None else {})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            loc = ("models", name, *first["loc"])
            field = ".".join(map(str, first["loc"])) or "entry"
            allowed = ", ".join(Price.model_fields)
            raise WeirdgenError(
                f"{path}:{line_of(root, loc)}: price of {name}: {field}: {first['msg']} "
                f"(got {first.get('input')!r}); give USD per 1M tokens as a number of 0 or "
                f"more, in fields {allowed}"
            ) from None
    return PriceTable(path, prices)
