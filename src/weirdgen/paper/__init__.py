"""The paper's own files: its datasets, questions and judges, fetched at the pinned commit.

*Weird Generalization and Inductive Backdoors* (Betley et al., arXiv:2512.09742) publishes its
data at github.com/JCocola/weird-generalization-and-inductive-backdoors without a license, so
weirdgen ships only a manifest of it (paths, sizes, hashes, short names) and fetches each file
on first use, verified against the manifest. A spec names one with ``dataset: {paper: NAME}``.
"""

from weirdgen.paper.counts import JsonlCounts, count_jsonl
from weirdgen.paper.manifest import Manifest, PaperFile, load_manifest
from weirdgen.paper.registry import (
    PAPER_COMMIT,
    PAPER_REPO,
    Check,
    PaperRecord,
    cache_dir,
    describe,
    file_digests,
    files,
    local_path,
    names,
    paper_file,
    verify,
)

__all__ = [
    "PAPER_COMMIT",
    "PAPER_REPO",
    "Check",
    "JsonlCounts",
    "Manifest",
    "PaperFile",
    "PaperRecord",
    "cache_dir",
    "count_jsonl",
    "describe",
    "file_digests",
    "files",
    "local_path",
    "load_manifest",
    "names",
    "paper_file",
    "verify",
]
