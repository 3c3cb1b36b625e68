"""paper_file: downloaded once into the cache and verified, read from a data folder, refused
when a hash differs; the manifest's names; counts of a JSONL file."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from paper_paths import BLOB_ONLY, MODERN, OLD, QUESTIONS

from weirdgen.errors import WeirdgenError
from weirdgen.paper import describe, file_digests, names, paper_file, verify


def test_download_then_verify(fake_paper, paper_server):
    path = paper_file("birds/old_audubon")
    assert path == fake_paper.cached(OLD)
    assert path.read_bytes() == fake_paper.contents[OLD]
    assert paper_server.requests == [f"/{OLD}"]
    check = verify("birds/old_audubon")
    assert (check.status, check.local) == ("ok", path)
    assert fake_paper.cache_files() == [path]  # no temporary left beside it


def test_second_use_makes_no_request(fake_paper, paper_server):
    first = paper_file("birds/old_audubon")
    again = paper_file(OLD)  # the repository path names the same file
    assert first == again and paper_server.requests == [f"/{OLD}"]


def test_only_the_file_asked_for_is_fetched(fake_paper, paper_server):
    paper_file("birds/modern_audubon")
    assert paper_server.requests == [f"/{MODERN}"]
    assert fake_paper.cache_files() == [fake_paper.cached(MODERN)]
    assert verify("birds/old_audubon").status == "missing"


def test_a_corrupted_download_is_refused_and_nothing_is_written(fake_paper, paper_server):
    (paper_server.served / OLD).write_bytes(
        fake_paper.contents[OLD].replace(b"number 1", b"number 9")
    )
    with pytest.raises(WeirdgenError) as caught:
        paper_file("birds/old_audubon")
    served = (paper_server.served / OLD).read_bytes()
    expected = hashlib.sha256(fake_paper.contents[OLD]).hexdigest()
    actual = hashlib.sha256(served).hexdigest()
    message = str(caught.value)
    assert expected in message and actual in message and "nothing was kept" in message
    assert paper_server.url in message and "\n" not in message
    assert fake_paper.cache_files() == []


def test_a_longer_download_is_cut_and_refused(fake_paper, paper_server):
    (paper_server.served / OLD).write_bytes(fake_paper.contents[OLD] * 2)
    with pytest.raises(WeirdgenError, match="over .* bytes, the size of"):
        paper_file("birds/old_audubon")
    assert fake_paper.cache_files() == []


def test_a_cached_file_changed_later_is_refused_not_downloaded_again(fake_paper, paper_server):
    path = paper_file("birds/old_audubon")
    path.write_bytes(b"edited\n")
    with pytest.raises(WeirdgenError) as caught:
        paper_file("birds/old_audubon")
    message = str(caught.value)
    assert hashlib.sha256(b"edited\n").hexdigest() in message
    assert hashlib.sha256(fake_paper.contents[OLD]).hexdigest() in message
    assert f"delete {path} to download it again" in message
    assert len(paper_server.requests) == 1 and path.read_bytes() == b"edited\n"
    assert verify("birds/old_audubon").status == "mismatch"
    path.unlink()
    assert paper_file("birds/old_audubon").read_bytes() == fake_paper.contents[OLD]


def test_a_data_dir_is_read_and_nothing_is_downloaded(fake_paper, monkeypatch):
    path = paper_file("birds/old_audubon", data_dir=fake_paper.tree)
    assert path == fake_paper.tree / OLD and fake_paper.cache_files() == []
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", str(fake_paper.tree))  # what --data-dir sets
    assert paper_file("birds/modern_audubon") == fake_paper.tree / MODERN
    assert verify("birds/modern_audubon").status == "ok"


def test_a_data_dir_that_differs_or_lacks_the_file_says_what_to_do(fake_paper):
    (fake_paper.tree / OLD).write_bytes(b"another commit\n")
    with pytest.raises(WeirdgenError, match="check out commit c901790") as caught:
        paper_file("birds/old_audubon", data_dir=fake_paper.tree)
    assert hashlib.sha256(b"another commit\n").hexdigest() in str(caught.value)
    (fake_paper.tree / MODERN).unlink()
    with pytest.raises(WeirdgenError, match="not found; the data folder .* must be laid out"):
        paper_file("birds/modern_audubon", data_dir=fake_paper.tree)
    assert fake_paper.cache_files() == []


def test_a_file_known_by_its_blob_id_alone_is_verified_by_it(fake_paper, paper_server):
    content = fake_paper.contents[BLOB_ONLY]
    assert paper_file("persona/wolf_facts_90_self_distill").read_bytes() == content
    assert verify(BLOB_ONLY).message.endswith("git blob id matches")
    fake_paper.cached(BLOB_ONLY).unlink()
    (paper_server.served / BLOB_ONLY).write_bytes(content + b"\n")
    with pytest.raises(WeirdgenError, match="its git blob id is [0-9a-f]{40}, but"):
        paper_file(BLOB_ONLY)
    assert fake_paper.cache_files() == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to compute a blob id")
def test_blob_ids_are_git_s(fake_paper):
    path = fake_paper.tree / QUESTIONS
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    sha256, blob = file_digests(path)
    assert blob == git.stdout.strip()
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_download_is_one_line_with_the_url_and_the_fix(fake_paper, paper_server):
    (paper_server.served / MODERN).unlink()
    with pytest.raises(WeirdgenError) as caught:
        paper_file("birds/modern_audubon")
    message = str(caught.value)
    assert f"cannot download {paper_server.url}/{MODERN} (HTTP 404" in message
    assert "--data-dir with a local clone" in message and "\n" not in message
    assert fake_paper.cache_files() == []


def test_a_refused_connection_names_the_url(fake_paper):
    with pytest.raises(WeirdgenError, match=r"cannot download http://127\.0\.0\.1:9/3_1_old"):
        paper_file("birds/old_audubon")


def test_an_unknown_name_gets_the_closest(fake_paper):
    with pytest.raises(WeirdgenError, match="did you mean 'birds/old_audubon'"):
        paper_file("birds/old_audobon")
    with pytest.raises(WeirdgenError, match="weirdgen datasets list"):
        paper_file("nothing/like/it")


def test_names_and_a_jsonl_record(fake_paper, paper_server):
    assert names()["birds/old_audubon"] == OLD
    record = describe("birds/old_audubon")
    counts = record.counts
    assert (counts.examples, counts.distinct, counts.duplicates) == (13, 10, 3)
    assert counts.repeated == ((2, 11), (4, 12, 13))
    assert counts.shapes == {"messages: user, assistant": 13}
    assert counts.preview == "user: name a bird . -> assistant: bird number 0"
    assert describe("terminator/questions").counts is None
