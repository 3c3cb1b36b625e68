"""``weirdgen direction`` and ``weirdgen project``: directions in the residual stream, and how
far a run's models move along them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from weirdgen.errors import WeirdgenError

if TYPE_CHECKING:
    from weirdgen.backends.protocol import Chat
    from weirdgen.mechanism import Direction
    from weirdgen.mechanism.projection import Projection

console = Console()
err = Console(stderr=True)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CSV_HEADER = (
    "name,layer,method,heldout_accuracy,scale,model,model_key,positive,negative,position,file"
)


def direction(
    name: Annotated[str, typer.Argument(help="What the direction stands for: era, trigger...")],
    model: Annotated[
        str,
        typer.Option(help="Model as provider/name, as weirdgen run --model takes it."),
    ],
    positive: Annotated[
        Path,
        typer.Option(
            help="Prompts the direction points towards: a text file (one prompt a line) or "
            'JSONL of chats ({"messages": [...]}, the user\'s message last).'
        ),
    ],
    negative: Annotated[Path, typer.Option(help="The contrasting prompts, in the same forms.")],
    layers: Annotated[
        str | None, typer.Option(help="Layers such as 0,2 (-1: the last); default: every layer.")
    ] = None,
    position: Annotated[
        str,
        typer.Option(help="Read each prompt at its last token, or its tokens' mean: last|mean."),
    ] = "last",
    method: Annotated[
        str, typer.Option(help="mean_difference, or probe (logistic regression; scikit-learn).")
    ] = "mean_difference",
    out: Annotated[
        Path, typer.Option(help="Folder for the direction files (and activations/, reused).")
    ] = Path("directions"),
    test_share: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of each set held out for the accuracy.")
    ] = 0.25,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the held-out split.")] = 0,
) -> None:
    """Find a direction from two contrast sets of prompts, per layer, with its held-out
    accuracy: writes OUT/NAME-layerL.direction.safetensors and OUT/NAME.directions.csv."""
    from weirdgen.backends import get_backend
    from weirdgen.mechanism.hooks import check_layers
    from weirdgen.mechanism.interventions import model_shape
    from weirdgen.mechanism.probe import METHODS, find_directions, split
    from weirdgen.mechanism.store import ActivationStore

    if not NAME.fullmatch(name):
        raise WeirdgenError(
            f"direction name {name!r}: use letters, digits, '_', '-' and '.' (it names files)"
        )
    if method not in METHODS:
        raise WeirdgenError(f"--method {method!r}: give one of {', '.join(METHODS)}")
    if position not in ("last", "mean"):
        raise WeirdgenError(f"--position {position!r}: give last or mean")
    files = {"--positive": positive, "--negative": negative}
    sets = {flag: read_prompts(path, flag) for flag, path in files.items()}
    split(len(sets["--positive"]), len(sets["--negative"]), test_share, seed)  # before any work
    backend = get_backend(model)
    for flag, prompts in sets.items():
        for line, prompt in prompts:
            backend.check_prompts([prompt], f"{flag} {files[flag]}:{line}")
    shape = model_shape(backend)
    if shape is None:
        raise WeirdgenError(
            f"--model {model}: its residual stream cannot be read here (the {backend.name} "
            "backend serves its models elsewhere); use an organism/ or hf/ model"
        )
    asked = _layers(layers)
    chosen = check_layers(
        range(shape[0]) if asked is None else asked, shape[0], f"--layers {layers}"
    )
    if out.exists() and not out.is_dir():
        raise WeirdgenError(f"--out {out} is a file; give a folder for the direction files")
    planned = _planned_files(out, name, chosen)
    base = backend.base()
    store = ActivationStore(out / "activations", lambda line: err.print(f"warning: {line}"))
    pos, neg = (
        store.residuals(backend, base, [p for _, p in sets[flag]], asked, position)
        for flag in files
    )
    info = {"position": position, "positive_file": str(positive), "negative_file": str(negative)}
    found = find_directions(name, pos, neg, method, base.key, chosen, test_share, seed, info)
    _write_directions(out, found, planned, model)
    table = Table("layer", "held-out accuracy", "scale", "file", title=f"{name} ({method})")
    for d, path in zip(found, planned, strict=True):
        accuracy = "-" if d.heldout_accuracy is None else f"{d.heldout_accuracy:.3f}"
        table.add_row(str(d.layer), accuracy, f"{d.scale:.3f}", path.name)
    console.print(table)
    first = found[0].info
    err.print(
        f"{model}: {first['positive']} positive and {first['negative']} negative prompts, "
        f"{first['heldout_positive']} and {first['heldout_negative']} held out (seed {seed}); "
        f"activations computed {store.computed}, reused {store.reused}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"directions: {out / f'{name}.directions.csv'}", highlight=False)


def read_prompts(path: Path, flag: str) -> list[tuple[int, Chat | str]]:
    """(line number, prompt) of a contrast file: JSONL of chats when it ends in ``.jsonl``,
    else one prompt per non-blank line."""
    from weirdgen.backends.protocol import as_chat

    if not path.is_file():
        raise WeirdgenError(f"{flag} {path}: no such file; give a text or JSONL file of prompts")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise WeirdgenError(f"{flag} {path}: cannot be read as UTF-8 text ({error})") from None
    out: list[tuple[int, Chat | str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if path.suffix != ".jsonl":
            out.append((number, line.strip()))
            continue
        try:
            record = json.loads(line)
            chat = as_chat(record["messages"])
        except Exception as error:  # noqa: BLE001 - JSON, a missing key or a bad message
            raise WeirdgenError(
                f"{flag} {path}:{number}: not a chat ({type(error).__name__}: "
                f'{" ".join(str(error).split())[:120]}); write {{"messages": [{{"role": '
                '"user", "content": "..."}]}'
            ) from None
        if not chat or chat[-1].role != "user":
            raise WeirdgenError(f"{flag} {path}:{number}: the last message must be the user's")
        out.append((number, chat))
    if not out:
        raise WeirdgenError(f"{flag} {path}: the contrast set is empty; give at least 2 prompts")
    return out


def _layers(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise WeirdgenError(f"--layers {text!r}: give layer numbers such as 0,2 (or -1)")
    return list(dict.fromkeys(values))


def _planned_files(out: Path, name: str, layers) -> list[Path]:
    """The files the command will write, each checked to be missing or weirdgen's own."""
    from weirdgen.mechanism import Direction

    files = [out / f"{name}-layer{layer}.direction.safetensors" for layer in layers]
    for path in files:
        if path.exists():
            Direction.load(path)  # one line if it is not a direction file
    table = out / f"{name}.directions.csv"
    if table.exists():
        first = table.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
        if first != CSV_HEADER:
            raise WeirdgenError(
                f"{table} exists and is not a table weirdgen direction wrote; move it, or give "
                "another --out or NAME"
            )
    return files


def _write_directions(out: Path, found: list[Direction], files: list[Path], model: str) -> None:
    import pandas as pd

    from weirdgen._atomic import write_text

    rows = []
    for d, path in zip(found, files, strict=True):
        d.save(path)
        rows.append(
            {
                "name": d.name,
                "layer": d.layer,
                "method": d.method,
                "heldout_accuracy": d.heldout_accuracy,
                "scale": d.scale,
                "model": model,
                "model_key": d.model,
                "positive": d.info["positive"],
                "negative": d.info["negative"],
                "position": d.info["position"],
                "file": path.name,
            }
        )
    name = found[0].name
    write_text(out / f"{name}.directions.csv", pd.DataFrame(rows).to_csv(index=False))


def project(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `weirdgen run`.")],
    direction_file: Annotated[
        Path,
        typer.Option("--direction", help="A direction file (weirdgen direction writes them)."),
    ],
) -> None:
    """How far each condition's finetunes move along a direction on the run's evaluation
    prompts, against the base model, per finetune seed with t intervals; writes CSV tables and
    a figure to RUN_DIR/mechanism/NAME-layerL/."""
    from weirdgen.mechanism import Direction
    from weirdgen.mechanism.projection import project_run, write_projection
    from weirdgen.mechanism.store import run_activations
    from weirdgen.run.folder import RunFolder, check_run_folder

    found = Direction.load(direction_file)
    check_run_folder(run_dir, "RUN_DIR", create=False)
    with RunFolder(run_dir, flag="RUN_DIR", create=False) as folder:
        store = run_activations(folder.path, lambda line: err.print(f"warning: {line}"))
        projection = project_run(folder.path, found, store)
        written = write_projection(folder.path, projection)
    console.print(_tables(projection))
    err.print(
        f"activations computed {store.computed}, reused {store.reused}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"projection: {written}", highlight=False)


def _tables(projection: Projection) -> Table:
    d = projection.direction
    accuracy = "" if d.heldout_accuracy is None else f", held-out accuracy {d.heldout_accuracy:.2f}"
    table = Table(
        "eval set",
        "condition",
        "mean shift",
        "95% interval",
        "x scale",
        "seeds",
        title=f"shift along {d.name} (layer {d.layer}, scale {d.scale:.3g}{accuracy}) against "
        "the base model",
        caption="Student t interval over finetune seeds; contrasts paired by seed",
    )
    target = projection.spec.target.name
    for eval_set in dict.fromkeys(projection.summary["eval_set"]):
        summary = projection.summary.loc[projection.summary["eval_set"] == eval_set]
        for row in summary.itertuples(index=False):
            name = f"{row.condition} (target)" if row.condition == target else row.condition
            table.add_row(eval_set, name, *_numbers(row.mean_shift, row, d.scale, row.n_seeds))
        if not projection.contrasts.empty:
            paired = projection.contrasts.loc[projection.contrasts["eval_set"] == eval_set]
            for row in paired.itertuples(index=False):
                name = f"{row.target} - {row.control}"
                table.add_row(eval_set, name, *_numbers(row.diff, row, d.scale, row.n_pairs))
        table.add_section()
    return table


def _numbers(value: float, row, scale: float, n: int) -> tuple[str, str, str, str]:
    return f"{value:+.3f}", _interval(row.ci_low, row.ci_high), f"{value / scale:+.2f}", str(n)


def _interval(low: float, high: float) -> str:
    if low != low or high != high:
        return "-"
    return f"[{low:+.3f}, {high:+.3f}]"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(direction)
    app.command()(project)
