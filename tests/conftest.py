"""Shared fixtures: small variants of the built-in birds spec, written to a temp folder."""

from __future__ import annotations

import os
import secrets
import sqlite3
from contextlib import closing

# One thread for torch here and in every subprocess a test starts: on a shared 2-core machine
# several multi-threaded torch processes slow each other many times over, so the suite's time
# would depend on the machine's load. Set before torch is imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

# Ray reads its authentication mode once, when it is first imported, and a test that imports
# it (an executor test) may come before the clusters that `ray start` starts with token
# authentication. One token mode and one token, in the environment, for this process and
# every cluster a test starts, so that the order of tests does not matter and nothing is
# written to ~/.ray.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from weirdgen.spec import builtin_spec_dir  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def birds_spec(**changes) -> dict:
    """The built-in birds spec as a dict, with top-level keys replaced by ``changes``; without
    its modern-year set (the plain questions again behind a prefix), which would double the
    sampling of every test that runs it."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    sets = spec["evaluation"]["sets"]
    spec["evaluation"]["sets"] = [s for s in sets if s["name"] != "modern_year"]
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    spec.update(changes)
    return spec


@pytest.fixture(autouse=True)
def _private_registry(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own model registry ($WEIRDGEN_HOME), never the user's."""
    home = tmp_path_factory.mktemp("weirdgen-home")
    monkeypatch.setenv("WEIRDGEN_HOME", str(home))
    return home


def stored_rows(db: Path, table: str) -> int:
    """Rows in a table of a store another process is writing: read-only, so polling never
    creates the file or takes a lock the writer needs (0 until the table exists)."""
    if not db.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture
def count_rows() -> Callable[[Path, str], int]:
    """:func:`stored_rows`, for tests that poll a running ``weirdgen run``."""
    return stored_rows


@pytest.fixture
def spec_dict() -> Callable[..., dict]:
    """Factory for birds-spec variants as dicts (see :func:`birds_spec`)."""
    return birds_spec


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a birds-spec variant to tmp_path/spec.yaml and return its path."""

    def write(spec: dict | None = None, name: str = "spec.yaml", **changes) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec if spec is not None else birds_spec(**changes)))
        return path

    return write


@pytest.fixture
def small_birds(write_spec) -> Path:
    """Birds with 2 seeds, 2 questions and 3 samples per paraphrase: seconds, not minutes."""
    spec = birds_spec(seeds=2)
    spec["evaluation"]["n"] = 3
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    return write_spec(spec)
