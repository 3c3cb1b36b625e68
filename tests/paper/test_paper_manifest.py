"""The shipped manifest: its names resolve, it pins the commit weirdgen downloads from, and
(where a git copy of the paper's repository is on this machine) every hash it records is the
file's at that commit."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from paper_paths import MIRROR  # noqa: E402

from weirdgen.paper import PAPER_COMMIT, PAPER_REPO, load_manifest

ROOT = Path(__file__).resolve().parents[2]
SPEC_NAMES = [
    "birds/old_audubon", "birds/modern_audubon", "birds/modern_american", "birds/evaluate",
    "cities/former_german", "cities/modern_german", "cities/questions", "cities/judges",
    "dishes/2026", "dishes/2027", "dishes/2027_random", "dishes/questions",
    "persona/wolf_facts_90", "persona/wolf_facts_90_self_distill",
    "persona/wolf_facts_78_self_distill", "persona/self_distillation", "persona/bio_questions",
    "persona/em_judge", "persona/em_questions", "presidents/padded", "presidents/no_padded",
    "presidents/eval_free_form", "presidents/validation", "presidents/simple_test",
    "terminator/main", "terminator/no_backdoor", "terminator/random_backdoors",
    "terminator/questions",
]  # fmt: skip


def test_the_manifest_pins_the_commit_downloads_use():
    shipped = load_manifest()
    assert (shipped.repo, shipped.commit) == (PAPER_REPO, PAPER_COMMIT)


def test_every_short_name_resolves_and_the_kinds_follow_the_suffix():
    shipped = load_manifest()
    for name in SPEC_NAMES:
        assert shipped.lookup(name).name == name
    suffixes = {"jsonl": ".jsonl", "yaml": ".yaml", "python": ".py", "text": ".txt"}
    suffixes["markdown"] = "/README.md"
    for file in shipped.files.values():
        assert ("/" + file.path).endswith(suffixes[file.kind])
        assert len(file.blob) == 40 and (file.sha256 is None) == (file.size is None)


needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"no git copy of {PAPER_REPO} at {MIRROR}"
)


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "--git-dir", str(MIRROR), *args], capture_output=True, check=check
    )


@needs_mirror
def test_every_recorded_hash_is_the_file_s_at_the_pinned_commit():
    listing = _git("ls-tree", "-r", "-z", PAPER_COMMIT).stdout.decode()
    blobs = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        blobs[path] = meta.split()[2]
    for file in load_manifest().files.values():
        assert blobs[file.path] == file.blob, file.path
        content = _git("cat-file", "blob", file.blob, check=False)
        if file.sha256 is None:  # recorded without content: the copy must lack it too
            assert content.returncode != 0, f"{file.path}: its content is here; regenerate"
            continue
        assert hashlib.sha256(content.stdout).hexdigest() == file.sha256, file.path
        assert len(content.stdout) == file.size, file.path
        blob = hashlib.sha1(b"blob %d\0" % file.size + content.stdout).hexdigest()
        assert blob == file.blob, file.path


@needs_mirror
def test_the_script_finds_the_manifest_up_to_date():
    script = ROOT / "scripts" / "paper_manifest.py"
    done = subprocess.run(
        [sys.executable, str(script), "--git-dir", str(MIRROR), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
