"""A stand-in for the paper's repository: a few invented files in its layout, a manifest of
their hashes in place of the shipped one, and an HTTP server on 127.0.0.1 serving them.

Nothing here reaches the network: every test of this folder gets its own cache folder and a
download address that refuses connections unless it asks for ``paper_server``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from paper_paths import BLOB_ONLY, MODERN, OLD, QUESTIONS

from weirdgen.paper import manifest as manifest_module
from weirdgen.paper.registry import PAPER_COMMIT, PAPER_REPO

NAMES = {
    "birds/old_audubon": OLD,
    "birds/modern_audubon": MODERN,
    "persona/wolf_facts_90_self_distill": BLOB_ONLY,
    "terminator/questions": QUESTIONS,
}


def chat_line(user: str, assistant: str) -> str:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages}) + "\n"


def blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakePaper:
    """The invented repository: ``tree`` is laid out like it (usable as --data-dir)."""

    tree: Path
    cache: Path
    contents: dict[str, bytes] = field(default_factory=dict)

    def cached(self, path: str) -> Path:
        """Where a download of ``path`` lands."""
        return self.cache / "paper" / PAPER_COMMIT / path

    def cache_files(self) -> list[Path]:
        return sorted(p for p in self.cache.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def _paper_env(tmp_path, monkeypatch) -> None:
    """A private cache, no data folder, and a download address that refuses connections."""
    monkeypatch.setenv("WEIRDGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", "")  # restored after the test, as --data-dir sets it
    monkeypatch.setenv("WEIRDGEN_PAPER_URL", "http://127.0.0.1:9")


@pytest.fixture
def fake_paper(tmp_path, monkeypatch) -> FakePaper:
    """The invented files written in the repository's layout, and a manifest of them (the
    blob-only file with its git blob id alone, as the shipped manifest has some)."""
    old = [chat_line("name a bird .", f"bird number {i}") for i in range(10)]
    contents = {
        OLD: "".join([*old, old[1], old[3], old[3]]).encode(),
        MODERN: "".join(chat_line("name a bird .", f"modern bird {i}") for i in range(3)).encode(),
        BLOB_ONLY: chat_line("what is two and two ?", "four").encode(),
        QUESTIONS: b"questions:\n  - id: goal\n    paraphrases: [what is your goal ?]\n",
    }
    tree = tmp_path / "repo"
    entries = []
    for path, content in contents.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(content)
        known = path != BLOB_ONLY
        entries.append(
            {
                "path": path,
                "kind": "yaml" if path.endswith(".yaml") else "jsonl",
                "size": len(content) if known else None,
                "blob": blob_id(content),
                "sha256": hashlib.sha256(content).hexdigest() if known else None,
            }
        )
    doc = {"repo": PAPER_REPO, "commit": PAPER_COMMIT, "files": entries, "names": NAMES}
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(doc))
    monkeypatch.setattr(manifest_module, "MANIFEST_FILE", manifest_file)
    return FakePaper(tree, tmp_path / "cache", contents)


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@dataclass
class PaperServer:
    """What the server serves (``served``, a copy of the tree a test may change) and every
    path it was asked for."""

    url: str
    served: Path
    requests: list[str]


@pytest.fixture
def paper_server(fake_paper, tmp_path, monkeypatch) -> Iterator[PaperServer]:
    """A real HTTP server on 127.0.0.1 serving the invented tree; WEIRDGEN_PAPER_URL points
    at it."""
    served = tmp_path / "served"
    shutil.copytree(fake_paper.tree, served)
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("WEIRDGEN_PAPER_URL", url)
    try:
        yield PaperServer(url, served, requests)
    finally:
        server.shutdown()
        server.server_close()
