"""Experiment suites: several experiments run as one, into one folder, with one report.

A suite spec is a YAML file with ``name``, ``description`` and ``suite``, the list of its
member experiments (built-in names or spec files). ``weirdgen run SUITE`` prepares every
member first (all of each member's checks, nothing written, so a bad member stops the suite
before any write), then runs each member into ``OUT/<member>/``: a run folder of its own that
``weirdgen report`` opens alone (on several pretraining seeds, the pooled folder of
:mod:`weirdgen.run.pretraining`). Last it writes the suite's report into ``OUT`` (see
:mod:`weirdgen.report.suite`). Each member keeps its own store, so a rerun reuses every
finetune, sample and score already made.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from weirdgen._atomic import write_text
from weirdgen.errors import WeirdgenError
from weirdgen.report.pooled import write_pooled
from weirdgen.report.suite import SuiteReport, write_suite_report
from weirdgen.run._work import Work
from weirdgen.run.folder import STORE, SUITE_FILE, RunFolder, check_run_folder
from weirdgen.run.orchestrator import PreparedRun, execute, prepare_run
from weirdgen.run.pretraining import pretrained_models, seed_folder
from weirdgen.spec._yaml import check_duplicate_keys, describe, line_of, parse_yaml, read
from weirdgen.spec.load import SPEC_SUFFIXES, find_spec, list_specs, list_suites, load_spec
from weirdgen.spec.models import ExperimentSpec, PathName

if TYPE_CHECKING:
    from weirdgen.plan import Plan


class SuiteEntry(BaseModel):
    """A member experiment with changes of its own: defences added, fewer seeds or samples."""

    model_config = ConfigDict(extra="forbid")

    experiment: str = Field(description="A built-in experiment name or a spec file.")
    defences: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Defences added to the experiment's own (see weirdgen.defences).",
    )
    seeds: int | list[int] | None = Field(
        None, description="Finetune seeds in place of the experiment's (a count N: 0..N-1)."
    )
    n: int | None = Field(None, ge=1, description="Samples per paraphrase, for every prompt.")


class SuiteSpec(BaseModel):
    """A suite: experiments run together into one folder and reported side by side."""

    model_config = ConfigDict(extra="forbid")

    name: PathName = Field(description="Suite name; the default folder is runs/<name>.")
    description: str = Field("", description="One line on what the suite shows.")
    suite: list[str | SuiteEntry] = Field(
        min_length=1,
        description="The member experiments in report order: built-in experiment names "
        "(weirdgen list) or spec files relative to the suite's file, or {experiment, "
        "defences, seeds, n} to add defences or run fewer seeds or samples.",
    )

    @field_validator("suite", mode="before")
    @classmethod
    def _entries(cls, entries: object) -> object:
        """A mapping is an entry with changes, checked here so its error names its field."""
        if not isinstance(entries, list):
            return entries
        checked = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                try:
                    entry = SuiteEntry.model_validate(entry)
                except ValidationError as error:
                    first = error.errors(include_url=False)[0]
                    field = ".".join(map(str, first["loc"]))
                    text = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
                    known = ", ".join(SuiteEntry.model_fields)
                    raise ValueError(
                        f"suite[{i}].{field}: {text} (an entry's fields: {known})"
                    ) from None
            checked.append(entry)
        return checked


class Member(NamedTuple):
    """A member experiment: its folder name under the suite's folder (the experiment's name)
    and its spec."""

    name: str
    spec: ExperimentSpec


class Suite(NamedTuple):
    """A loaded suite: its spec, its file and its members' loaded specs, in suite order."""

    spec: SuiteSpec
    source: Path
    members: list[Member]


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a suite spec and every member's experiment spec.

    Raises:
        WeirdgenError: one line naming the file, line and field at fault: an unknown member
            (with the experiments there are), a member that is a suite, two members that are
            the same experiment, or a member spec's own error.
    """
    path = find_spec(name_or_path)
    root, data = parse_yaml(path, read(path))
    if root is None or not isinstance(data, dict):
        raise WeirdgenError(
            f"{path}: a suite is a YAML mapping: name, description and suite (a list of "
            "experiment names)"
        )
    check_duplicate_keys(path, root)
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as error:
        raise WeirdgenError(describe(path, root, error, SuiteSpec)) from error
    members: list[Member] = []
    for index, entry in enumerate(spec.suite):
        where = f"{path}:{line_of(root, ('suite', index))}: spec field suite[{index}]"
        named = entry if isinstance(entry, str) else entry.experiment
        experiment = load_spec(_member_file(named, path.parent, where))
        if not isinstance(entry, str):
            experiment = _changed(experiment, entry, where)
        same = next((i for i, m in enumerate(members) if m.name == experiment.name), None)
        if same is not None:
            raise WeirdgenError(
                f"{where}: {entry!r} is experiment {experiment.name!r}, as suite[{same}] is; "
                "each member runs into OUT/<its name>/, so list each experiment once"
            )
        members.append(Member(experiment.name, experiment))
    return Suite(spec, path.absolute(), members)


def _changed(experiment: ExperimentSpec, entry: SuiteEntry, where: str) -> ExperimentSpec:
    """A member experiment with its suite entry's defences, seeds and samples."""
    from weirdgen.run.plan import with_overrides
    from weirdgen.spec.load import validate_spec

    source = experiment.source
    if entry.defences:
        data = experiment.model_dump()
        data["defences"] = [*data.get("defences", []), *entry.defences]
        experiment = validate_spec(data, lambda loc: f"{where} ({'.'.join(map(str, loc))})")
        experiment.source = source
    try:
        return with_overrides(experiment, n=entry.n, seeds=entry.seeds)
    except WeirdgenError as error:
        raise WeirdgenError(f"{where}: {error}") from None


def _member_file(entry: str, folder: Path, where: str) -> Path:
    """The spec file a suite entry names: a spec path (relative to the suite's folder) or a
    built-in experiment name."""
    if Path(entry).suffix in SPEC_SUFFIXES:
        file = Path(entry).expanduser()
        file = file if file.is_absolute() else folder / file
        if not file.is_file():
            raise WeirdgenError(
                f"{where}: spec file {entry!r} not found in {folder}; give a path relative to "
                "the suite's file, or a built-in experiment name (weirdgen list)"
            )
        return file
    experiments = list_specs()
    known = [name for s in experiments for name in (s.name, s.qualified_name)]
    if entry not in known:
        if any(entry in (s.name, s.qualified_name) for s in list_suites()):
            raise WeirdgenError(f"{where}: {entry!r} is a suite; a suite's members are experiments")
        close = difflib.get_close_matches(entry, known, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        names = ", ".join(s.qualified_name for s in experiments) or "none"
        raise WeirdgenError(
            f"{where}: unknown experiment {entry!r}{guess}; the experiments: {names}"
        )
    return find_spec(entry)


@dataclass
class PreparedMember:
    """A member whose checks passed: one prepared run, or one per pretraining seed."""

    name: str
    out: Path
    runs: dict[int | None, PreparedRun]
    """Keyed by pretraining seed; one run keyed None when the member is not pooled."""

    @property
    def pooled(self) -> bool:
        return None not in self.runs


@dataclass
class PreparedSuite:
    """A suite whose every member has passed every check, with nothing written yet."""

    suite: Suite
    out: Path
    members: list[PreparedMember]


@dataclass
class SuiteResult:
    """A finished suite: its folder, what each member computed, and the suite report."""

    out: Path
    work: dict[str, list[Work]] = field(default_factory=dict)
    """Each member's work, one per run (several with pretraining seeds)."""
    report: SuiteReport | None = None


def prepare_suite(
    suite: Suite,
    out: Path | None = None,
    model: str | None = None,
    n: int | None = None,
    seeds: int | list[int] | None = None,
    pretraining_seeds: list[int] | None = None,
    judge: str | None = None,
    console: Console | None = None,
) -> PreparedSuite:
    """Every check of every member (as :func:`~weirdgen.run.orchestrator.prepare_run` makes
    them) and of the suite's folder, writing nothing.

    Args:
        model, n, seeds, judge: overrides for every member, as ``weirdgen run`` takes them.
        pretraining_seeds: run every member on these pretraining seeds (default: each
            member's own ``pretraining_seeds``, if any).
    """
    console = console or Console(stderr=True)
    out = Path(out) if out is not None else Path("runs") / suite.spec.name
    check_run_folder(out)
    _refuse_experiment_folder(out)
    overrides = {"n": n, "seeds": seeds, "judge": judge, "console": console}
    members = [
        _prepare_member(member, out / member.name, model, pretraining_seeds, overrides)
        for member in suite.members
    ]
    return PreparedSuite(suite, out, members)


def _prepare_member(
    member: Member,
    folder: Path,
    model: str | None,
    pretraining_seeds: list[int] | None,
    overrides: dict[str, Any],
) -> PreparedMember:
    try:
        return _prepare_runs(member, folder, model, pretraining_seeds, overrides)
    except WeirdgenError as error:
        raise WeirdgenError(f"suite member {member.name}: {error}") from error


def _prepare_runs(
    member: Member,
    folder: Path,
    model: str | None,
    pretraining_seeds: list[int] | None,
    overrides: dict[str, Any],
) -> PreparedMember:
    chosen = member.spec.pretraining_seeds if pretraining_seeds is None else pretraining_seeds
    if chosen is None:
        run = prepare_run(member.spec, folder, model=model, **overrides)
        return PreparedMember(member.name, folder, {None: run})
    models = pretrained_models(member.spec, model, chosen)
    single = member.spec.model_copy(update={"pretraining_seeds": None})
    single.source = member.spec.source
    check_run_folder(folder)
    runs: dict[int | None, PreparedRun] = {
        seed: prepare_run(single, seed_folder(folder, seed), model=models[seed], **overrides)
        for seed in chosen
    }
    return PreparedMember(member.name, folder, runs)


def plan_suite(
    suite: Suite,
    out: Path | None = None,
    model: str | None = None,
    judge: str | None = None,
    n: int | None = None,
    seeds: int | list[int] | None = None,
) -> Plan:
    """What running every member needs and costs, as one plan (``weirdgen run --budget``)."""
    from weirdgen.plan import Plan, estimate

    out = Path(out) if out is not None else Path("runs") / suite.spec.name
    plans = [
        estimate(m.spec, model, judge, out=out / m.name, n=n, seeds=seeds) for m in suite.members
    ]
    notes = dict.fromkeys(note for plan in plans for note in plan.notes)
    rows = tuple(row for plan in plans for row in plan.rows)
    return Plan(suite.spec.name, out, plans[0].prices, rows, tuple(notes))


def _refuse_experiment_folder(out: Path) -> None:
    """A suite's folder holds member folders; one experiment's run folder is refused."""
    if any((out / name).exists() for name in (STORE, "spec.yaml", "pooled.md")):
        raise WeirdgenError(
            f"--out {out.absolute()} is the run folder of one experiment, not of a suite; "
            "give a new folder for the suite"
        )


def run_suite(
    prepared: PreparedSuite, console: Console | None = None, progress: bool = True
) -> SuiteResult:
    """Run each member of what :func:`prepare_suite` checked, then write the suite report.

    Members run one after the other into ``OUT/<member>/`` under one progress display (the
    suite's bar above the member's own); a member on several pretraining seeds gets its
    pooled report there too.
    """
    console = console or Console(stderr=True)
    result = SuiteResult(prepared.out)
    names = [m.name for m in prepared.members]
    with RunFolder(prepared.out) as folder:
        spec = prepared.suite.spec.model_copy(update={"suite": names})
        document = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
        write_text(folder.inside(SUITE_FILE), document)
        with _suite_progress(console, progress) as bar:
            task = bar.add_task(spec.name, total=len(names))
            for number, member in enumerate(prepared.members, 1):
                console.print(
                    f"suite {spec.name}: {member.name} ({number} of {len(names)})",
                    highlight=False,
                )
                result.work[member.name] = _run_member(member, console, progress)
                bar.advance(task)
        result.report = write_suite_report(folder.path, spec.name, spec.description, names)
    return result


def _run_member(member: PreparedMember, console: Console, progress: bool) -> list[Work]:
    if not member.pooled:
        return [execute(member.runs[None], console, progress).work]
    with RunFolder(member.out):
        runs = {seed: execute(run, console, progress) for seed, run in member.runs.items()}
    first = next(iter(runs.values()))
    write_pooled(member.out, first.spec, {seed: r.samples for seed, r in runs.items()})
    return [r.work for r in runs.values()]


def _suite_progress(console: Console, enabled: bool) -> Progress:
    """The suite's bar, shown above each member's own bars where rich nests live displays
    (from 14.1); with an older rich, the member lines alone say where the suite is."""
    major, minor = (int(part) for part in version("rich").split(".")[:2])
    return Progress(
        TextColumn("suite {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled or (major, minor) < (14, 1),
    )


def report_suite(out: Path) -> SuiteReport | None:
    """Rewrite the suite report of a suite folder from its members' stored tables; None
    when ``out`` is not a suite's folder."""
    path = Path(out) / SUITE_FILE
    if not path.is_file():
        return None
    root, data = parse_yaml(path, read(path))
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as error:
        if root is None:
            raise WeirdgenError(f"{path}: empty; run the suite again to write it") from error
        raise WeirdgenError(describe(path, root, error, SuiteSpec)) from error
    with RunFolder(out, flag="RUN_DIR", create=False) as folder:
        return write_suite_report(folder.path, spec.name, spec.description, spec.suite)
