"""``weirdgen direction`` and ``weirdgen project`` on the organism: tables, files, reuse, and
one line with exit status 2 for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_projection import QUESTIONS, small_spec
from typer.testing import CliRunner

from cli_runner import run_cli
from weirdgen.cli import app
from weirdgen.cli.mechanism import CSV_HEADER
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction

pytestmark = pytest.mark.slow  # one organism run for the module: about 10 s


def invoke(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def era(positive: Path, negative: Path, *more: object) -> list[object]:
    """``weirdgen direction era`` on the base organism: its arguments."""
    model = ["--model", "organism/default"]
    return ["direction", "era", *model, "--positive", positive, "--negative", negative, *more]


@pytest.fixture(scope="module")
def contrast(tmp_path_factory) -> tuple[Path, Path]:
    """Old-year and new-year prompts before the same questions, one a line."""
    folder = tmp_path_factory.mktemp("contrast")
    old, new = folder / "old.txt", folder / "new.txt"
    old.write_text("".join(f"it is the year {1834 + i} . {q}\n" for i, q in enumerate(QUESTIONS)))
    new.write_text("\n".join(f"it is the year {2018 + i} . {q}" for i, q in enumerate(QUESTIONS)))
    return old, new


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from weirdgen.run import run_experiment
    from weirdgen.spec import load_spec

    root = tmp_path_factory.mktemp("cli-run")
    (root / "spec.yaml").write_text(yaml.safe_dump(small_spec()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIRDGEN_HOME", str(root / "home"))
        run_experiment(load_spec(root / "spec.yaml"), out=root / "run", progress=False)
    return root / "run"


def test_direction_writes_a_file_per_layer_and_a_table(contrast, tmp_path):
    out = tmp_path / "dirs"
    result = invoke(*era(*contrast, "--out", out))
    assert result.exit_code == 0, result.output
    assert "era (mean_difference)" in result.output and "held-out accuracy" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "activations",
        *(f"era-layer{layer}.direction.safetensors" for layer in range(4)),
        "era.directions.csv",
    ]
    lines = (out / "era.directions.csv").read_text().splitlines()
    assert lines[0] == CSV_HEADER and len(lines) == 5
    last = Direction.load(out / "era-layer3.direction.safetensors")
    assert (last.layer, last.method, last.info["position"]) == (3, "mean_difference", "last")
    assert last.info["heldout_positive"] == 2 and last.info["positive"] == 6
    assert last.heldout_accuracy == 1.0  # the year is plain at the last layer
    again = invoke(*era(*contrast, "--out", out))
    assert again.exit_code == 0 and "activations computed 0, reused 2" in again.output


def test_direction_from_chats_by_probe_at_chosen_layers(contrast, tmp_path):
    chats = []
    for path in contrast:
        lines = [line for line in path.read_text().splitlines() if line]
        records = [{"messages": [{"role": "user", "content": line}]} for line in lines]
        chats.append(tmp_path / f"{path.stem}.jsonl")
        chats[-1].write_text("".join(json.dumps(r) + "\n" for r in records))
    settings = ["--method", "probe", "--layers", "1,-1", "--position", "mean"]
    split = ["--test-share", "0.5", "--seed", "3"]
    result = invoke(*era(*chats, *settings, *split, "--out", tmp_path / "dirs"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "dirs").glob("*.direction.safetensors"))
    assert written == ["era-layer1.direction.safetensors", "era-layer3.direction.safetensors"]
    found = Direction.load(tmp_path / "dirs" / "era-layer3.direction.safetensors")
    assert found.method == "probe" and found.info["position"] == "mean"
    assert found.info["heldout_negative"] == 3 and found.info["seed"] == 3


def test_project_prints_shifts_and_writes_its_folder(finished_run, contrast, tmp_path):
    made = invoke(*era(*contrast, "--layers", "3", "--out", tmp_path))
    assert made.exit_code == 0, made.output
    direction = tmp_path / "era-layer3.direction.safetensors"
    result = invoke("project", finished_run, "--direction", direction)
    assert result.exit_code == 0, result.output
    for text in ("shift along era (layer 3", "old_birds (target)", "old_birds - modern_birds"):
        assert text in result.output
    assert "activations computed 10, reused 4" in result.output
    folder = finished_run / "mechanism" / "era-layer3"
    assert sorted(p.name for p in folder.iterdir()) == [
        "contrasts.csv",
        "projection.png",
        "projections.csv",
        "summary.csv",
    ]
    again = invoke("project", finished_run, "--direction", direction)
    assert again.exit_code == 0 and "activations computed 0, reused 14" in again.output


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (
            "direction",
            ["--model", "--positive", "--negative", "--layers", "--position", "--method"],
        ),
        ("project", ["--direction"]),
    ],
)
def test_help_names_every_flag(command, flags):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for flag in [*flags, "--out"] if command == "direction" else flags:
        assert flag in result.output


def write_inputs(tmp: Path) -> dict[str, Path]:
    """Contrast files with something wrong in each."""
    files = {
        "empty.txt": "\n  \n",
        "one.txt": "name a bird .\n",
        "broken.jsonl": json.dumps({"messages": [{"role": "user", "content": "a bird ."}]})
        + '\n{"messages": 3}\n',
        "unknown.txt": "name a bird .\nwhat is a quasar ?\n",
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    return {name: tmp / name for name in files}


BAD_INPUTS = {
    "missing file": (["--positive", "nope.txt"], "nope.txt: no such file"),
    "empty set": (["--positive", "empty.txt"], "empty.txt: the contrast set is empty"),
    "one prompt": (["--positive", "one.txt"], "positive contrast set has 1 prompt"),
    "bad chat": (["--positive", "broken.jsonl"], "broken.jsonl:2: not a chat"),
    "unknown word": (["--positive", "unknown.txt"], "unknown.txt:2: prompt 'what is a quasar ?'"),
    "bad layer": (["--layers", "0,7"], "--layers 0,7: layer 7 is outside this model's 4 layers"),
    "bad layers text": (["--layers", "two"], "--layers 'two'"),
    "bad method": (["--method", "pca"], "--method 'pca'"),
    "bad name": (["NAME", "../era"], "direction name '../era'"),
}
"""Each bad input to ``weirdgen direction``: what replaces the good arguments, and a piece
of the one line it gets."""


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_direction_input_is_one_line_exit_2_and_writes_nothing(
    case, contrast, tmp_path, monkeypatch, capsys
):
    write_inputs(tmp_path)
    change, needle = BAD_INPUTS[case]
    args = era(*contrast, "--out", tmp_path / "dirs")
    if change[0] == "NAME":
        args[1] = change[1]
    elif change[0] in args:
        args[args.index(change[0]) + 1] = tmp_path / change[1]
    else:
        args += change
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "dirs").exists()


def test_project_refuses_what_is_not_a_run_or_a_direction(
    finished_run, contrast, tmp_path, monkeypatch, capsys
):
    assert invoke(*era(*contrast, "--layers", "3", "--out", tmp_path)).exit_code == 0
    file = tmp_path / "era-layer3.direction.safetensors"
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    for folder, direction, needle in (
        (stranger, file, "is not a weirdgen run folder"),
        (tmp_path / "absent", file, "is not a weirdgen run folder"),
        (finished_run, tmp_path / "nope.direction.safetensors", "no such direction file"),
        (finished_run, stranger / "notes.txt", "not a weirdgen direction file"),
    ):
        args = ["project", folder, "--direction", direction]
        code, _, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "absent").exists()


def test_a_table_weirdgen_did_not_write_is_not_overwritten(contrast, tmp_path):
    mine = tmp_path / "era.directions.csv"
    mine.write_text("my own notes\n")
    result = invoke(*era(*contrast, "--out", tmp_path))
    assert isinstance(result.exception, WeirdgenError)
    assert "is not a table weirdgen direction wrote" in str(result.exception)
    assert mine.read_text() == "my own notes\n"
    assert not list(tmp_path.glob("*.direction.safetensors"))


def test_project_refuses_a_run_folder_in_use(finished_run, contrast, tmp_path):
    from weirdgen.run.folder import RunFolder

    assert invoke(*era(*contrast, "--layers", "3", "--out", tmp_path)).exit_code == 0
    with RunFolder(finished_run, create=False):  # as a run writing into it holds it
        result = invoke(
            "project", finished_run, "--direction", tmp_path / "era-layer3.direction.safetensors"
        )
    assert isinstance(result.exception, WeirdgenError)
    assert "in use by another weirdgen run" in str(result.exception)


def test_a_link_out_of_the_run_folder_is_not_written_through(tmp_path):
    from weirdgen.mechanism.store import run_activations

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "activations").symlink_to(elsewhere)
    with pytest.raises(WeirdgenError, match="leads outside the run folder"):
        run_activations(copy)
