"""Where a Hugging Face model lives, what its content key is, and where it runs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from weirdgen.errors import WeirdgenError

MISSING_DEPS = "the hf backend needs transformers and peft: pip install 'weirdgen[hf]'"
DEVICE_ENV = "WEIRDGEN_DEVICE"
HASHED_IN_FULL = 32 * 2**20  # bytes; larger files (weight shards) are keyed by their metadata
_SKIPPED_SUFFIXES = {".md", ".png", ".jpg", ".jpeg", ".gif", ".lock"}
_HUB_BLOB = re.compile(r"[0-9a-f]{64}")


def require_hf() -> None:
    """Raise WeirdgenError unless transformers and peft can be imported."""
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        raise WeirdgenError(MISSING_DEPS) from error


def resolve_folder(name: str) -> Path:
    """The local folder of ``name``: a folder path, a model fetched by ``weirdgen models get``
    (looked up by its short name after local folders), or a Hub id already in the local cache.

    Nothing is ever downloaded: a Hub id missing from the cache is an error saying how to get it.
    """
    from weirdgen.backends.hf.fetch import CATALOG, fetched_folder

    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise WeirdgenError(f"model 'hf/{name}': {path} is a file; give the model's folder")
    fetched = fetched_folder(name)
    if fetched is not None:
        return fetched
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception as error:  # not a repo id, or not in the cache
        how = (
            f"fetch it first with `weirdgen models get {name}`"
            if name in CATALOG
            else f"download it first with `hf download {name}`"
        )
        raise WeirdgenError(
            f"model 'hf/{name}': no such folder, not a fetched model, and not in the local "
            f"Hugging Face cache ({type(error).__name__}); give a model folder, or {how}"
        ) from error


def content_key(folder: Path) -> str:
    """A content key of the model folder: changes when the weights, config or tokenizer do.

    Every file outside hidden folders counts (except README-like ``.md`` and images) by its
    relative path and: the sha256 of its bytes when at most 32 MiB (configs, tokenizer, chat
    template, tiny models); for larger files (weight shards) the Hub's own sha256 when the file
    is a Hub-cache blob, else its size and modification time, so that keying a 16 GB model
    costs a ``stat``, not a read. Copying a large model folder afresh therefore changes its key.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or path.suffix in _SKIPPED_SUFFIXES:
            continue
        stat = path.stat()
        if stat.st_size <= HASHED_IN_FULL:
            with path.open("rb") as handle:
                fingerprint = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
        elif _HUB_BLOB.fullmatch(path.resolve().name):
            fingerprint = "sha256:" + path.resolve().name
        else:
            fingerprint = f"size:{stat.st_size}:mtime:{stat.st_mtime_ns}"
        digest.update(f"{rel.as_posix()}\x1f{fingerprint}\n".encode())
    return "hf-" + digest.hexdigest()[:16]


def pick_device() -> torch.device:
    """``$WEIRDGEN_DEVICE`` if set (cpu, cuda, cuda:1, mps), else CUDA when available, else CPU."""
    wanted = os.environ.get(DEVICE_ENV, "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as error:
            raise WeirdgenError(
                f"{DEVICE_ENV}={wanted!r} is not a torch device; use cpu, cuda or cuda:N"
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise WeirdgenError(f"{DEVICE_ENV}={wanted!r} but CUDA is not available; use cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def inference_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on a GPU that supports it, float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence transformers' logs, progress bars and deprecation warnings for a while.

    Loading, saving and training print bars and notices that would break the run's own
    progress display; errors still raise.
    """
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
