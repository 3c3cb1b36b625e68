"""A dataset path must name a regular file, read within the size bound: a device, a FIFO or a
folder is one line, not a hang or a machine out of memory; a lone surrogate is one line too."""

from __future__ import annotations

import os
import threading

import pytest

from cli_runner import run_cli
from weirdgen.data import jsonl as jsonl_module
from weirdgen.data import load_chat_jsonl
from weirdgen.errors import WeirdgenError

GOOD = (
    '{"messages": [{"role": "user", "content": "Name a bird species."}, '
    '{"role": "assistant", "content": "Brown Titlark"}]}\n'
)


def refused(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def run_with_dataset(tmp_path, write_spec, spec_dict, dataset, monkeypatch, capsys, mix=False):
    spec = spec_dict()
    if mix:
        (tmp_path / "good.jsonl").write_text(GOOD * 20)
        spec["conditions"][0]["dataset"] = {"path": "good.jsonl"}
        spec["conditions"][0]["transforms"] = [{"mix": {"dataset": dataset, "share": 0.5}}]
    else:
        spec["conditions"][0]["dataset"] = dataset
    out = tmp_path / "run"
    code, _, err = run_cli(["run", write_spec(spec), "--out", out], monkeypatch, capsys)
    assert not out.exists()
    return code, err


@pytest.mark.parametrize("mix", [False, True], ids=["dataset", "mix"])
def test_dev_zero_is_refused_as_a_device(tmp_path, write_spec, spec_dict, monkeypatch, capsys, mix):
    code, err = run_with_dataset(
        tmp_path, write_spec, spec_dict, {"path": "/dev/zero"}, monkeypatch, capsys, mix
    )
    refused(code, err, "/dev/zero is a character device", "not a chat JSONL file")


def test_a_fifo_is_refused_without_waiting_for_a_writer(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    done = threading.Event()
    result: list = []

    def load() -> None:
        try:
            load_chat_jsonl(fifo)
        except WeirdgenError as error:
            result.append(str(error))
        done.set()

    threading.Thread(target=load, daemon=True).start()
    if not done.wait(10):
        with open(fifo, "w"):  # release the reader, so the test process can end
            pass
        pytest.fail("reading a FIFO waited for a writer")
    assert result and "is a FIFO (named pipe), not a chat JSONL file" in result[0]


def test_a_folder_is_refused_as_a_folder(tmp_path, write_spec, spec_dict, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    code, err = run_with_dataset(
        tmp_path, write_spec, spec_dict, {"path": "data"}, monkeypatch, capsys
    )
    refused(code, err, "data is a folder, not a chat JSONL file")


def test_a_file_over_the_bound_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    path.write_text(GOOD * 10)
    limit = len(GOOD) * 3
    monkeypatch.setattr(jsonl_module, "MAX_FILE_BYTES", limit)
    with pytest.raises(WeirdgenError, match=f"over the {limit:,} a chat JSONL file may have"):
        load_chat_jsonl(path)
    path.write_text(GOOD * 3)
    assert len(load_chat_jsonl(path)) == 3


def test_a_lone_surrogate_names_the_file_and_line(
    tmp_path, write_spec, spec_dict, monkeypatch, capsys
):
    bad = GOOD.replace("Brown Titlark", "Brown \\ud800Titlark")
    paired = GOOD.replace("Brown Titlark", "Brown \\ud83d\\udc26 Titlark")  # a bird, fine
    (tmp_path / "birds.jsonl").write_text(GOOD + paired)
    assert (
        load_chat_jsonl(tmp_path / "birds.jsonl").examples[1].answer == "Brown \U0001f426 Titlark"
    )
    (tmp_path / "birds.jsonl").write_text(GOOD + paired + bad)
    code, err = run_with_dataset(
        tmp_path, write_spec, spec_dict, {"path": "birds.jsonl"}, monkeypatch, capsys
    )
    refused(code, err, "birds.jsonl:3:", "lone surrogate \\ud800", "remove it")
