"""Built-in specs: listing, loading by name, unknown names, and every shipped spec is runnable."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.backends.organism import OrganismBackend
from weirdgen.data.generators import generator_names
from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import load_condition
from weirdgen.spec import builtin_spec_dir, list_specs, load_spec, resolve_spec_path
from weirdgen.spec import load as spec_load

SPEC = """\
name: {name}
description: >
  Finetune on {name}
  answers.
seeds: 2
conditions:
  - name: target
    role: target
    dataset:
      organism: birds_old
  - name: base
    role: control
evaluation:
  sets:
    - name: main
      questions:
        - id: q
          paraphrases: [Name a bird.]
scorers:
  - name: old
    kind: organism_era
metrics:
  - name: old
    eval_set: main
    score: old
"""


@pytest.fixture
def specs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the built-in specs folder: organism/birds, organism/names, top.yml."""
    root = tmp_path / "specs"
    (root / "organism").mkdir(parents=True)
    for relative in ["organism/birds.yaml", "organism/names.yaml", "top.yml"]:
        (root / relative).write_text(SPEC.format(name=Path(relative).stem), encoding="utf-8")
    (root / "organism" / "notes.txt").write_text("not a spec", encoding="utf-8")
    monkeypatch.setattr(spec_load, "builtin_spec_dir", lambda: root)
    return root


def _error(name: str) -> str:
    with pytest.raises(WeirdgenError) as caught:
        load_spec(name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_list_specs(specs_dir: Path) -> None:
    specs = list_specs()

    assert [(s.group, s.name, s.qualified_name) for s in specs] == [
        ("", "top", "top"),
        ("organism", "birds", "organism/birds"),
        ("organism", "names", "organism/names"),
    ]
    assert specs[1].path == specs_dir / "organism" / "birds.yaml"
    assert specs[1].description == "Finetune on birds answers."


def test_list_specs_of_missing_folder(tmp_path: Path) -> None:
    assert list_specs(tmp_path / "absent") == []


def test_broken_spec_is_listed_without_description(specs_dir: Path) -> None:
    (specs_dir / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")

    (broken,) = [s for s in list_specs() if s.name == "broken"]

    assert broken.description == ""


@pytest.mark.parametrize("name", ["birds", "organism/birds"])
def test_load_builtin_by_name(specs_dir: Path, name: str) -> None:
    spec = load_spec(name)

    assert spec.name == "birds"
    assert spec.source == specs_dir / "organism" / "birds.yaml"
    assert spec.seeds == [0, 1]


def test_unknown_name_suggests_closest(specs_dir: Path) -> None:
    assert _error("brids") == (
        "unknown experiment 'brids' (did you mean 'birds'?); built-in experiments: top, birds, "
        "names; or pass a path to a spec YAML file"
    )


def test_unknown_name_without_close_match(specs_dir: Path) -> None:
    message = _error("zzzzzz")

    assert message.startswith("unknown experiment 'zzzzzz'; built-in experiments: top,")


def test_unknown_name_without_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_load, "builtin_spec_dir", lambda: tmp_path / "none")

    assert "built-in experiments: none; or pass a path" in _error("birds")


def test_same_name_in_two_groups(specs_dir: Path) -> None:
    (specs_dir / "other").mkdir()
    (specs_dir / "other" / "birds.yaml").write_text(SPEC.format(name="b2"), encoding="utf-8")
    (specs_dir / "other" / "names.yaml").write_text(SPEC.format(name="n2"), encoding="utf-8")
    (specs_dir / "third").mkdir()
    (specs_dir / "third" / "names.yaml").write_text(SPEC.format(name="n3"), encoding="utf-8")
    (specs_dir / "other" / "x.yaml").write_text(SPEC.format(name="x2"), encoding="utf-8")
    (specs_dir / "third" / "x.yaml").write_text(SPEC.format(name="x3"), encoding="utf-8")

    assert load_spec("birds").name == "birds"  # a bare name means the organism's
    assert load_spec("other/birds").name == "b2"
    assert _error("x") == (
        "experiment name 'x' is ambiguous: other/x, third/x; name it as group/name"
    )
    assert "built-in experiments: top, organism/birds, organism/names, other/birds," in _error(
        "bird"
    )


def test_missing_yaml_path_mentions_builtin(specs_dir: Path, tmp_path: Path) -> None:
    message = _error(str(tmp_path / "birds.yaml"))

    assert message.startswith(f"spec file '{tmp_path / 'birds.yaml'}' not found; ")
    assert "did you mean the built-in experiment 'organism/birds'?" in message


def test_builtin_spec_dir_is_in_package() -> None:
    assert builtin_spec_dir().parts[-2:] == ("weirdgen", "specs")


def test_shipped_specs_load() -> None:
    """Built-in specs ship (organism/birds at least); each loads, has a description, names
    dataset files that exist and organism generators that exist, and, on an organism model,
    asks prompts and trains on examples the organism backend accepts. (The paper/ specs read
    the paper's files, downloaded: tests/paper/test_paper_specs.py loads them on fixtures.)"""
    infos = [info for info in list_specs() if info.group != "paper"]
    assert "organism/birds" in {info.qualified_name for info in infos}
    backends: dict[str, OrganismBackend] = {}
    for info in infos:
        spec = load_spec(info.path)
        assert info.description, f"{info.path} needs a description"
        provider, _, name = spec.model.partition("/")
        backend = None
        if provider == "organism":
            backend = backends.setdefault(name, OrganismBackend(name))
        for i, condition in enumerate(spec.conditions):
            dataset, where = condition.dataset, f"{info.path}: conditions[{i}].dataset"
            if dataset is None:
                continue
            if dataset.path is not None:
                assert resolve_spec_path(spec, dataset.path).is_file(), f"{where}: no such file"
            else:
                assert dataset.organism in generator_names(), (
                    f"{where}: no generator {dataset.organism}"
                )
            if backend is not None:
                backend.check_dataset(load_condition(spec, condition).dataset, where)
        questions = [
            s.fresh.drawn(q, 2, f"evaluation set {s.name!r}")[0] if s.fresh else q
            for s in spec.evaluation.sets
            for q in s.expanded()
        ]  # fresh variables (a random padding) drawn as the run draws them
        assert questions, f"{info.path} asks no questions"
        if backend is not None:
            for question in questions:
                where = f"{info.path}: question {question.id}"
                backend.check_prompts(question.paraphrases, where, spec.evaluation.max_tokens)
