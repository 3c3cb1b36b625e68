"""``weirdgen datasets``: the paper's files, listed, fetched, verified and described.

The paper's repository has no license, so weirdgen ships a manifest of it (paths, sizes,
hashes) and fetches each file at the pinned commit on first use; see docs/datasets.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from weirdgen.errors import WeirdgenError

app = typer.Typer(
    help="The paper's datasets, questions and judges: list, fetch, verify, show.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        exists=True,
        file_okay=False,
        help="A local clone of the paper's repository at the pinned commit (or a folder laid "
        "out like it): paper files are read from it, not downloaded (default: "
        "$WEIRDGEN_PAPER_DIR).",
    ),
]


def use_data_dir(folder: Path | None) -> None:
    """Read the paper's files from ``folder`` in this process (sets $WEIRDGEN_PAPER_DIR)."""
    if folder is not None:
        from weirdgen.paper.registry import DATA_DIR_VAR

        os.environ[DATA_DIR_VAR] = str(folder.resolve())


@app.command("list")
def list_files(data_dir: DataDir = None) -> None:
    """Every file weirdgen knows of the paper's repository: short name, path, size, kind,
    hash (sha256, else git blob id) and whether it is here (in --data-dir, or downloaded)."""
    from weirdgen.paper import files, load_manifest, local_path

    rows = [("name", "size", "kind", "hash", "local", "path")]
    for file in files():
        local = local_path(file.path, data_dir).is_file()
        digest = f"sha256:{file.sha256[:12]}" if file.sha256 else f"blob:{file.blob[:12]}"
        size = f"{file.size:,}" if file.size is not None else "?"
        name = file.name if file.name != file.path else "-"
        rows.append((name, size, file.kind, digest, "yes" if local else "no", file.path))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # plain lines: a table would fold the long paths at the terminal's width
        cells = [
            cell.rjust(w) if i == 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        _say(console, "  ".join([*cells, row[-1]]))
    shown = load_manifest()
    _say(
        err,
        f"{len(shown.files)} files of {shown.repo} at commit {shown.commit[:7]}; "
        f"read from {_where(data_dir)}",
    )


@app.command()
def fetch(
    names: Annotated[
        list[str] | None, typer.Argument(help="Short names or repository paths.")
    ] = None,
    all_files: Annotated[bool, typer.Option("--all", help="Every file of the manifest.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Download the named files into the cache (only those not there yet), verifying each;
    with --data-dir, verify them in that folder instead."""
    from weirdgen.paper import files, paper_file

    chosen = [f.path for f in files()] if all_files else list(names or [])
    if not chosen or (all_files and names):
        raise WeirdgenError(
            "weirdgen datasets fetch: give file names (see `weirdgen datasets list`) or --all, "
            "not both"
        )
    for name in chosen:
        _say(console, f"{name}: {paper_file(name, data_dir)}")


@app.command("verify")
def verify_files(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Short names or repository paths (default: every file)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Check local copies against the manifest's hashes, downloading nothing: one line per
    file; exit status 1 if any differs, or a named file is missing."""
    from weirdgen.paper import files, verify

    chosen = list(names) if names else [f.path for f in files()]
    failed = 0
    for name in chosen:
        check = verify(name, data_dir)
        bad = check.status == "mismatch" or (check.status == "missing" and bool(names))
        failed += bad
        line = f"{check.status:<8} {check.file.name}: {check.message}"
        _say(err if bad else console, line)
    if failed:
        raise typer.Exit(1)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A short name or repository path.")],
    data_dir: DataDir = None,
) -> None:
    """One file: path, size, hashes, where it is; for JSONL its examples, distinct examples,
    duplicates (by line), shapes and one clipped example (fetches it first if needed)."""
    from weirdgen.paper import describe

    record = describe(name, data_dir)
    file, counts = record.file, record.counts
    lines = [
        f"name      {file.name}",
        f"path      {file.path}",
        f"kind      {file.kind}",
        f"size      {record.local.stat().st_size:,} bytes",
        f"sha256    {file.sha256 or '(not in the manifest; verified by the blob id)'}",
        f"blob      {file.blob}",
        f"local     {record.local}",
    ]
    if counts is not None:
        lines += [
            f"examples  {counts.examples:,} ({counts.distinct:,} distinct, "
            f"{counts.duplicates:,} duplicates)",
            *(f"shape     {s} ({n:,} lines)" for s, n in counts.shapes.items()),
            *(f"repeated  lines {', '.join(map(str, found))}" for found in counts.repeated[:10]),
            *(
                [f"repeated  ... and {len(counts.repeated) - 10} more records"]
                if len(counts.repeated) > 10
                else []
            ),
            f"first     {counts.preview}",
        ]
    for line in lines:
        _say(console, line)


def _say(to: Console, line: str) -> None:
    """One line as it is: no markup, no colours, not folded at the terminal's width."""
    to.print(line, highlight=False, markup=False, soft_wrap=True)


def _where(data_dir: Path | None) -> str:
    from weirdgen.paper.registry import cache_dir, data_dir_from_env

    folder = data_dir if data_dir is not None else data_dir_from_env()
    return f"the data folder {folder}" if folder is not None else f"the cache {cache_dir()}"
