"""``weirdgen organism``: pretrain, probe and inspect the model organism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import MAX_SEED

app = typer.Typer(
    help="The model organism: a tiny GPT pretrained on a synthetic world.", no_args_is_help=True
)
console = Console()

# How far a re-pretrained checkpoint's probe figures may sit from the shipped ones.
PROBE_TOLERANCE = 0.1


@app.command()
def pretrain(
    seed: Annotated[
        int,
        typer.Option(min=0, max=MAX_SEED, help="Pretraining seed (the shipped checkpoint: 0)."),
    ] = 0,
    version: Annotated[
        str | None,
        typer.Option(
            help="Organism version: its world and recipe (v1, v2, v3; default: the newest)."
        ),
    ] = None,
    knob: Annotated[
        list[str] | None,
        typer.Option(
            help="A world knob of version 2 as NAME=SHARE (repeatable): birders=0.2, or any "
            "document kind, e.g. characters.story=0; needs --out: a knob setting is not the "
            "version's checkpoint."
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Optimizer steps (default: the version's recipe).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write model.safetensors and manifest.json into (default: the "
            "user data folder, used as organism/VERSION@SEED; ./organism-checkpoint for a "
            "seed the package ships)."
        ),
    ] = None,
    compare: Annotated[
        bool | None,
        typer.Option(
            help="Compare the probe figures with the shipped checkpoint's (default: only "
            "when the recipe is the one that made it, seed 0 and the default steps)."
        ),
    ] = None,
) -> None:
    """Pretrain the organism from scratch; seed 0 with the defaults reproduces the shipped one.

    Another seed goes into the user data folder, where specs and commands find it as
    organism/VERSION@SEED (a second level of replication: pretraining seeds).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from weirdgen.organism import pretrain_checkpoint
    from weirdgen.organism.checkpoint import check_checkpoint_folder
    from weirdgen.organism.pretrain import recipe
    from weirdgen.organism.versions import DEFAULT, check_version

    version = version or DEFAULT
    check_version(version, f"--version {version}")
    knobs = _knobs(knob or [])
    if knobs and out is None:
        raise WeirdgenError("--knob: give --out DIR; a knob setting is not the version's seed")
    if knobs:
        from weirdgen.organism.worlds import version_world

        version_world(version, knobs)  # an unknown knob or share stops here, before any work
    out = out if out is not None else _default_out(version, seed, steps)
    check_checkpoint_folder(out)
    config = recipe(version, seed, steps)
    with Progress(
        TextColumn("pretrain"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bars:
        task = bars.add_task("pretrain", total=config.steps, loss=float("nan"))
        manifest = pretrain_checkpoint(
            out,
            config,
            progress=lambda step, loss: bars.update(task, completed=step + 1, loss=loss),
            version=version,
            knobs=knobs,
        )
    console.print(
        f"pretrained {manifest['n_params']:,} parameters in {manifest['seconds']:.0f}s; "
        f"final loss {manifest['final_loss']:.3f}; checkpoint: {out}"
    )
    shipped = _shipped_manifest(version)
    if compare is None:  # the question only makes sense for the recipe that made it
        compare = (
            shipped is not None and shipped.get("pretrain", {}) == config.to_dict() and not knobs
        )
    _print_probe(manifest["probe"], shipped.get("probe") if compare and shipped else None)
    if compare and shipped is not None:
        _print_machines(shipped.get("machine"), manifest["machine"])


def _print_machines(shipped: dict[str, Any] | None, here: dict[str, Any]) -> None:
    """Say whether this machine can reproduce the shipped checkpoint bit for bit: only the
    same CPU kind, instruction set, torch version and thread count do."""
    if shipped is None:
        console.print(
            "the shipped checkpoint does not record its machine; on another CPU kind, torch "
            "version or thread count pretraining gives other numbers"
        )
        return
    keys = ("cpu", "capability", "torch", "threads")
    differ = [k for k in keys if shipped.get(k) != here.get(k)]
    if not differ:
        console.print("same machine kind as the shipped checkpoint: the figures should match")
        return
    shown = ", ".join(f"{k} {shipped.get(k)} there, {here.get(k)} here" for k in differ)
    console.print(
        f"the shipped checkpoint was pretrained on another machine ({shown}): float kernels "
        "differ, so per-seed figures differ too; claims pooled over pretraining seeds are "
        "what carry over (docs/organism.md, Reproducibility)",
        markup=False,
        highlight=False,
    )


def _knobs(texts: list[str]) -> dict[str, float]:
    knobs = {}
    for text in texts:
        name, _, value = text.partition("=")
        try:
            knobs[name.strip()] = float(value)
        except ValueError:
            raise WeirdgenError(f"--knob {text!r}: write NAME=SHARE, e.g. birders=0.2") from None
    return knobs


def _default_out(version: str, seed: int, steps: int | None) -> Path:
    """The data folder's organism/VERSION@SEED, or ./organism-checkpoint for a seed the
    package ships or a recipe other than the version's (which must not pass for its seed)."""
    from weirdgen.organism.versions import pretrained_folder, shipped_folder

    shipped = (shipped_folder(version) / "manifest.json").is_file()
    if (seed == 0 and shipped) or steps is not None:
        return Path("organism-checkpoint")
    folder = pretrained_folder(version, seed)
    if (folder / "manifest.json").exists():
        raise WeirdgenError(
            f"--seed {seed}: organism/{version}@{seed} is already pretrained ({folder}); "
            "delete that folder to pretrain it again, or pass --out DIR"
        )
    return folder


@app.command()
def probe(
    checkpoint: Annotated[
        str,
        typer.Option(
            help="A checkpoint name (default, v1, v1@SEED; see weirdgen organism list) or folder."
        ),
    ] = "default",
) -> None:
    """Print the in-context probes: is the assistant modern by default, and does one old
    answer in context make later answers old?"""
    from weirdgen.organism import load_organism
    from weirdgen.organism.probe import probe as run_probe
    from weirdgen.organism.versions import resolve

    named = resolve(checkpoint)
    org = load_organism(named.folder if named is not None else Path(checkpoint))
    _print_probe(run_probe(org).to_dict(), None)


@app.command(name="list")
def list_checkpoints() -> None:
    """List the organism checkpoints at hand: each version's shipped seed and the seeds
    pretrained here, with the names specs use (organism/v1@SEED)."""
    from weirdgen.organism.versions import DEFAULT, VERSIONS, pretrained_seeds, resolve

    table = Table("name", "pretraining seed", "final loss", "folder")
    for version in VERSIONS:
        for seed in pretrained_seeds(version):
            named = resolve(f"{version}@{seed}")
            assert named is not None
            manifest = json.loads((named.folder / "manifest.json").read_text())
            name = f"organism/{version}@{seed}"
            name += " (organism/default)" if version == DEFAULT and seed == 0 else ""
            table.add_row(name, str(seed), f"{manifest['final_loss']:.3f}", str(named.folder))
    console.print(table)


@app.command()
def vocab(
    version: Annotated[
        str | None,
        typer.Option(help="Organism version (v1, v2, v3; default: organism/default's)."),
    ] = None,
) -> None:
    """Print the organism's vocabulary: every word it can read or write (version 3 writes
    every number as its digits, so its vocabulary holds the ten digits and no number)."""
    from weirdgen.organism.versions import DEFAULT, check_version
    from weirdgen.organism.worlds import version_world

    version = version or DEFAULT
    check_version(version, f"--version {version}")
    tok = version_world(version).tokenizer
    console.print(" ".join(tok.itos), markup=False, highlight=False, soft_wrap=True)


def _shipped_manifest(version: str) -> dict[str, Any] | None:
    """The shipped checkpoint's manifest (its recipe and probe figures), if it is there."""
    from weirdgen.organism.versions import shipped_folder

    manifest = shipped_folder(version) / "manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())


def _print_probe(figures: dict[str, float], shipped: dict[str, float] | None) -> None:
    from weirdgen.organism.probe import PROBE_HELP

    table = Table("probe", "value", *(["shipped", "within tolerance"] if shipped else []), "reads")
    ok = True
    for name, value in figures.items():
        cells = [name, f"{value:.3f}"]
        if shipped:
            close = abs(value - shipped[name]) <= PROBE_TOLERANCE
            ok &= close
            cells += [f"{shipped[name]:.3f}", "yes" if close else "NO"]
        table.add_row(*cells, PROBE_HELP[name])
    console.print(table)
    if shipped:
        verdict = "reproduces" if ok else "does NOT reproduce"
        console.print(f"{verdict} the shipped checkpoint's probes (tolerance ±{PROBE_TOLERANCE})")
