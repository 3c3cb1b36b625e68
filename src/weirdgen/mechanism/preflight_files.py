"""What a preflight writes: its folder, checked before anything is computed, and its files,
written at the end (each atomically), so a failed preflight leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weirdgen._atomic import write_text
from weirdgen.errors import WeirdgenError

KIND = "weirdgen preflight"
"""The ``kind`` of every preflight.json, by which a rerun knows the folder is a preflight's."""
FILES = ("preflight.json", "preflight.csv", "samples.csv", "proxy")
"""What a preflight writes into its folder, and nothing else."""


def check_out(out: Path) -> None:
    """Refuse a folder holding files of the names a preflight writes that no preflight
    wrote (nothing weirdgen did not make is ever overwritten)."""
    if out.exists() and not out.is_dir():
        raise WeirdgenError(f"--out {out}: a file, not a folder; choose a folder")
    marker = out / FILES[0]
    if marker.is_file():
        try:
            ours = json.loads(marker.read_text(encoding="utf-8")).get("kind") == KIND
        except (ValueError, AttributeError, OSError):
            ours = False
        if not ours:
            raise WeirdgenError(
                f"--out {out}: {marker.name} there was not written by weirdgen preflight; "
                "choose another folder"
            )
        return
    clash = [name for name in FILES if (out / name).exists()]
    if clash:
        raise WeirdgenError(
            f"--out {out}: {clash[0]} is there and no preflight wrote it; choose another folder"
        )


def inputs_key(inputs: dict[str, Any]) -> str:
    """A content key of everything that decides a preflight's results."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def write_outputs(
    out: Path,
    document: dict[str, Any],
    table: pd.DataFrame,
    samples: pd.DataFrame,
    proxy_files: list[Path],
) -> None:
    """Move a newly trained proxy finetune into ``out/proxy``, then write samples.csv,
    preflight.csv and, last, preflight.json (which marks the folder as a preflight's)."""
    out.mkdir(parents=True, exist_ok=True)
    if proxy_files:
        kept = out / "proxy"
        kept.mkdir(exist_ok=True)
        for path in proxy_files:
            target = kept / path.name
            if target.is_dir():  # the same finetune (same key) is there already
                continue
            shutil.move(str(path), str(target))
    write_text(out / "samples.csv", samples.to_csv(index=False))
    write_text(out / "preflight.csv", table.to_csv(index=False))
    write_text(out / "preflight.json", json.dumps(jsonable(document), indent=1) + "\n")


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
