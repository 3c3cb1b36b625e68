"""docs/paper.md's protocol tables agree with the shipped paper specs, so neither drifts.

Format (one section per spec of ``src/weirdgen/specs/paper/``, NAME its file stem)::

    ### Protocol: NAME

    | parameter | paper | source | weirdgen | spec field |
    |---|---|---|---|---|
    | seeds | 6 | 3_2_german_city_names/README.md:11 | 6 | `seeds` |
    | judge model | — | ours | openai/gpt-4.1-2025-04-14 | `scorers[0].model` |

    - **judge model**: why weirdgen's value differs from the paper's.

- ``paper``: the paper's value, or ``—`` where it is silent;
- ``source``: ``REPO_PATH:LINE`` (a file of the paper's repository at the pinned commit),
  ``paper §N.N``, or ``ours`` (always ``ours`` where ``paper`` is ``—``);
- ``weirdgen``: weirdgen's value exactly as the spec writes it (a YAML scalar or flow list;
  backticks around it are allowed), or any text where ``spec field`` is ``—``;
- ``spec field``: a dotted path into the spec's YAML in backticks (``seeds``,
  ``train.openai.epochs``, ``evaluation.sets[0].n``, ``scorers[1].max_tokens``), or ``—``.

Every row whose ``paper`` and ``weirdgen`` values are both given and differ (compared as
YAML values) needs a deviation line below the table, before the next heading: a list item
starting with the parameter in bold and a colon, ``- **PARAMETER**: why`` (several may share
one line: ``- **a**, **b**: why``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from weirdgen.paper import PAPER_COMMIT, load_manifest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "paper.md"
SPECS = ROOT / "src" / "weirdgen" / "specs" / "paper"
from paper_paths import MIRROR  # noqa: E402

HEADER = ["parameter", "paper", "source", "weirdgen", "spec field"]
SILENT = "—"
_HEADING = re.compile(r"^###\s+Protocol:\s*(\S+)\s*$")
_SOURCE = re.compile(r"^(?:(?P<path>[^\s:]+):(?P<line>[1-9]\d*)|paper §\d+(?:\.\d+)*|ours)$")
_DEVIATION = re.compile(r"^\s*[-*]\s+((?:\*\*[^*]+\*\*(?:\s*,\s*|\s+and\s+)?)+):")
_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*$")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class Row(NamedTuple):
    line: int
    parameter: str
    paper: str
    source: str
    weirdgen: str
    field: str


class Table(NamedTuple):
    name: str
    line: int
    rows: list[Row]
    deviations: set[str]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_tables(text: str) -> dict[str, Table]:
    """Every ``### Protocol: NAME`` section of ``text``: its table and deviation lines."""
    tables: dict[str, Table] = {}
    lines = text.splitlines()
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _HEADING.match(line))]
    for index, (start, name) in enumerate(starts):
        assert name not in tables, f"docs/paper.md:{start + 1}: a second table for {name}"
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines)
        )
        if index + 1 < len(starts):
            end = min(end, starts[index + 1][0])
        section = list(enumerate(lines[start + 1 : end], start + 2))
        table = [(n, line) for n, line in section if line.lstrip().startswith("|")]
        assert len(table) >= 3, f"docs/paper.md:{start + 1}: no table under the heading"
        assert _cells(table[0][1]) == HEADER, (
            f"docs/paper.md:{table[0][0]}: the header must be | {' | '.join(HEADER)} |"
        )
        rows = []
        for number, line in table[2:]:
            cells = _cells(line)
            assert len(cells) == len(HEADER), f"docs/paper.md:{number}: {len(cells)} cells"
            rows.append(Row(number, *cells))
        deviations = set()
        for _, line in section:
            found = _DEVIATION.match(line)
            if found:
                deviations.update(re.findall(r"\*\*([^*]+)\*\*", found.group(1)))
        tables[name] = Table(name, start + 1, rows, deviations)
    return tables


def value(cell: str) -> Any:
    """A table cell as a YAML value (backticks around it dropped)."""
    text = cell.strip()
    if len(text) >= 2 and text[0] == text[-1] == "`":
        text = text[1:-1]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def resolve(spec: Any, path: str) -> Any:
    """The value at a dotted path (``scorers[1].max_tokens``); KeyError naming the step
    that is not there."""
    assert _PATH.match(path), f"{path!r} is not a dotted path such as scorers[1].max_tokens"
    node, walked = spec, ""
    for key, index in _STEP.findall(path):
        if index:
            walked += f"[{index}]"
            if not isinstance(node, list) or int(index) >= len(node):
                raise KeyError(f"{walked} (not a list, or too short)")
            node = node[int(index)]
        else:
            walked += f".{key}" if walked else key
            if not isinstance(node, dict) or key not in node:
                raise KeyError(walked)
            node = node[key]
    return node


def field_path(cell: str) -> str | None:
    if cell == SILENT:
        return None
    assert len(cell) >= 2 and cell[0] == cell[-1] == "`", (
        f"write the spec field in backticks: {cell}"
    )
    return cell[1:-1]


def shipped() -> list[str]:
    return sorted(p.stem for p in SPECS.glob("*.yaml"))


TABLES = parse_tables(DOC.read_text(encoding="utf-8")) if DOC.is_file() else {}


def test_every_shipped_paper_spec_has_a_protocol_table():
    missing = [name for name in shipped() if name not in TABLES]
    assert not missing, f"docs/paper.md has no '### Protocol: NAME' table for {missing}"
    unknown = [name for name in TABLES if name not in shipped()]
    assert not unknown, f"docs/paper.md has tables for specs that do not ship: {unknown}"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_table_s_weirdgen_column_is_what_the_spec_says(name):
    spec = yaml.safe_load((SPECS / f"{name}.yaml").read_text(encoding="utf-8"))
    wrong = []
    for row in TABLES[name].rows:
        path = field_path(row.field)
        if path is None:
            continue
        try:
            found = resolve(spec, path)
        except KeyError as error:
            wrong.append(f"docs/paper.md:{row.line}: {path}: the spec has no {error.args[0]}")
            continue
        if found != value(row.weirdgen):
            wrong.append(
                f"docs/paper.md:{row.line}: {row.parameter}: the table says {row.weirdgen}, "
                f"{name}.yaml {path} is {found!r}"
            )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_departure_from_the_paper_says_why(name):
    table = TABLES[name]
    missing = [
        f"docs/paper.md:{row.line}: {row.parameter} (paper {row.paper}, weirdgen {row.weirdgen})"
        for row in table.rows
        if SILENT not in (row.paper, row.weirdgen)
        and value(row.paper) != value(row.weirdgen)
        and row.parameter not in table.deviations
    ]
    assert not missing, (
        "rows that depart from the paper need a line '- **PARAMETER**: why' below the "
        "table:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("name", sorted(TABLES))
def test_sources_are_a_file_line_a_section_or_ours(name):
    files = {file.path for file in load_manifest().files.values()}
    wrong = []
    for row in TABLES[name].rows:
        found = _SOURCE.match(row.source)
        if found is None:
            wrong.append(f"docs/paper.md:{row.line}: source {row.source!r}")
        elif found.group("path") and found.group("path") not in files:
            wrong.append(f"docs/paper.md:{row.line}: {found.group('path')} is not in the manifest")
        elif row.paper == SILENT and row.source != "ours":
            wrong.append(f"docs/paper.md:{row.line}: the paper is silent, so the source is ours")
    assert not wrong, "\n".join(wrong)


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no mirror of the paper's repository at {MIRROR}")
def test_cited_lines_exist_at_the_pinned_commit():
    lengths: dict[str, int] = {}
    wrong = []
    for table in TABLES.values():
        for row in table.rows:
            found = _SOURCE.match(row.source)
            if found is None or not found.group("path"):
                continue
            path = found.group("path")
            if path not in lengths:
                shown = subprocess.run(
                    ["git", "--git-dir", str(MIRROR), "show", f"{PAPER_COMMIT}:{path}"],
                    capture_output=True,
                )
                lengths[path] = len(shown.stdout.splitlines()) if shown.returncode == 0 else 0
            if int(found.group("line")) > lengths[path]:
                wrong.append(f"docs/paper.md:{row.line}: {row.source}: {path} is shorter")
    assert not wrong, "\n".join(wrong)


def test_the_parser_finds_drift_and_unexplained_departures():
    doc = "\n".join(
        [
            "### Protocol: demo",
            "",
            "| parameter | paper | source | weirdgen | spec field |",
            "|---|---|---|---|---|",
            "| seeds | 6 | 3_2_german_city_names/README.md:11 | 6 | `seeds` |",
            "| n | 1000 | paper §3.1 | `100` | `evaluation.sets[0].n` |",
            "| judge | — | ours | gpt | — |",
            "",
            "- **n**: cheaper.",
            "## Next",
            "- **seeds**: not part of the section",
        ]
    )
    table = parse_tables(doc)["demo"]
    assert [r.parameter for r in table.rows] == ["seeds", "n", "judge"]
    assert table.deviations == {"n"}
    spec = {"seeds": 6, "evaluation": {"sets": [{"n": 100}]}}
    assert resolve(spec, "evaluation.sets[0].n") == value(table.rows[1].weirdgen) == 100
    with pytest.raises(KeyError, match=r"evaluation.sets\[1\]"):
        resolve(spec, "evaluation.sets[1].n")
    with pytest.raises(KeyError, match="train"):
        resolve(spec, "train.openai.epochs")
