"""Loading spec files: valid specs load; every mistake gives one line with file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.spec import ExperimentSpec, load_spec, resolve_spec_path

MINIMAL = """\
# A tiny experiment used by the tests.
name: tiny
description: A tiny experiment.
seeds: [0, 1]
conditions:
  - name: old_birds
    role: target
    dataset:
      path: data/old.jsonl
  - name: base
    role: control
evaluation:
  n: 2
  sets:
    - name: main
      questions:
        - id: inventions
          topic: inventions
          paraphrases:
            - Name a recent invention.
scorers:
  - name: old
    kind: organism_era
metrics:
  - name: old_rate
    eval_set: main
    score: old
    among: old_valid
    headline: true
"""


def _line(text: str, marker: str) -> int:
    """1-based number of the only line of text that contains marker."""
    (number,) = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    return number


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(WeirdgenError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_minimal_spec_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)

    spec = load_spec(path)

    assert isinstance(spec, ExperimentSpec)
    assert spec.name == "tiny"
    assert spec.source == path.absolute()
    assert spec.target.name == "old_birds"
    assert spec.conditions[0].dataset is not None
    assert spec.conditions[0].dataset.path == "data/old.jsonl"
    assert resolve_spec_path(spec, "data/old.jsonl") == tmp_path / "data" / "old.jsonl"


def test_string_path_and_yml_suffix(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("seeds: [0, 1]", "seeds: 3"), "spec.yml")

    spec = load_spec(str(path))

    assert spec.seeds == [0, 1, 2]


def test_resolve_spec_path_absolute_and_without_source(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, MINIMAL))
    absolute = tmp_path / "elsewhere" / "x.jsonl"

    assert resolve_spec_path(spec, absolute) == absolute
    spec.source = None
    assert resolve_spec_path(spec, "x.jsonl") == Path.cwd() / "x.jsonl"


def _variant(old: str, new: str) -> str:
    assert MINIMAL.count(old) == 1
    return MINIMAL.replace(old, new)


def test_wrong_type_deep_in_tree(tmp_path: Path) -> None:
    text = _variant("      path: data/old.jsonl", "      path: [a, b]")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'path: [a, b]')}: ")
    assert "spec field conditions[0].dataset.path: Input should be a valid string" in message
    assert "(got a list)" in message


def test_wrong_type_in_list_item(tmp_path: Path) -> None:
    text = _variant("seeds: [0, 1]", "seeds:\n  - 0\n  - one")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, '- one')}: spec field seeds[1]: ")
    assert "(got 'one'); write a whole number" in message


def test_yaml_boolean_for_text_hints_at_quoting(tmp_path: Path) -> None:
    text = _variant("        - id: inventions", "        - id: yes")
    path = _write(tmp_path, text)

    message = _error(path)

    line = _line(text, "- id: yes")
    assert message.startswith(f"{path}:{line}: spec field evaluation.sets[0].questions[0].id: ")
    assert "(got True)" in message
    assert "quote it" in message


def test_unknown_scorer_kind_names_its_line_and_the_close_kind(tmp_path: Path) -> None:
    text = _variant("kind: organism_era", "kind: organism_ear")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'kind:')}: spec field scorers[0].kind: ")
    assert "unknown scorer kind 'organism_ear'; did you mean 'organism_era'?" in message


def test_a_scorer_argument_error_names_its_own_line_and_fields(tmp_path: Path) -> None:
    text = _variant("kind: organism_era\n", "kind: organism_era\n    colour: red\n")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'colour:')}: spec field scorers[0].colour: ")
    assert "unknown field 'colour'; allowed fields here: name, kind" in message


def test_a_metric_reading_a_column_no_scorer_adds_is_refused_at_load(tmp_path: Path) -> None:
    text = _variant("among: old_valid", "among: valid")
    path = _write(tmp_path, text)

    message = _error(path)

    assert "metric 'old_rate' among: no scorer adds a column 'valid'" in message
    assert "did you mean 'old_valid'?" in message


def test_unknown_field_lists_allowed_fields(tmp_path: Path) -> None:
    text = _variant("    role: control", "    role: control\n    datset:\n      path: x.jsonl")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message == (
        f"{path}:{_line(text, 'datset:')}: spec field conditions[1].datset: unknown field "
        "'datset'; did you mean 'dataset'? allowed fields here: name, role, dataset, transforms, "
        "data_seed, description, intervention, test_time, filtering, early_stopping, "
        "realignment, defence"
    )


def test_unknown_top_level_field_hides_source(tmp_path: Path) -> None:
    text = MINIMAL + "sede: 3\n"
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'sede:')}: spec field sede: unknown field")
    assert "allowed fields here: name, description, model, seeds," in message
    assert "source" not in message


def test_missing_field_points_at_parent(tmp_path: Path) -> None:
    text = _variant("    role: control\n", "")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message == (
        f"{path}:{_line(text, '- name: base')}: spec field conditions[1].role: required field "
        "is missing; add 'role' ('target' is the condition under test; 'control' arms are "
        "compared to it; 'defended' is a condition under a defence (made from the spec's "
        "defences))"
    )


def test_missing_top_level_field(tmp_path: Path) -> None:
    text = _variant("scorers:\n  - name: old\n    kind: organism_era\n", "")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'name: tiny')}: spec field scorers: ")
    assert "required field is missing; add 'scorers'" in message


def test_too_short_list(tmp_path: Path) -> None:
    text = _variant("  - name: base\n    role: control\n", "")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'conditions:')}: spec field conditions: ")
    assert "give at least 2 items" in message


def test_counts_further_errors(tmp_path: Path) -> None:
    text = _variant("  n: 2", "  n: 0\n  temperature: hot").replace("score: old", "score: [old]")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'n: 0')}: spec field evaluation.n: ")
    assert "greater than or equal to 1" in message
    assert "'n' is: Samples per paraphrase" in message
    assert message.endswith("(+2 more errors)")


def test_one_more_error_is_singular(tmp_path: Path) -> None:
    text = _variant("  n: 2", "  n: 0\n  temperature: hot")

    assert _error(_write(tmp_path, text)).endswith("(+1 more error)")


def test_unknown_eval_set_points_at_metrics(tmp_path: Path) -> None:
    text = _variant("eval_set: main", "eval_set: mian")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message == (
        f"{path}:{_line(text, 'metrics:')}: spec: metric 'old_rate' uses eval_set 'mian'; "
        "defined sets are ['main']"
    )


def test_two_targets_points_at_conditions(tmp_path: Path) -> None:
    text = _variant("    role: control", "    role: target")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'conditions:')}: spec: exactly one condition")


def test_field_validator_message(tmp_path: Path) -> None:
    text = _variant("seeds: [0, 1]", "seeds: [0, 1]\nmodel: default")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message == (
        f"{path}:{_line(text, 'model:')}: spec field model: "
        "write the model as provider/name, e.g. organism/default"
    )


@pytest.mark.parametrize(
    ("text", "marker", "words"),
    [
        pytest.param(
            "name: tiny\nseeds [0, 1]\nconditions: []\n",
            "seeds [0, 1]",
            ["invalid YAML: could not find expected ':'"],
            id="missing-colon",
        ),
        pytest.param(
            "name: tiny\nseeds: [0, 1\nconditions: []\n",
            "conditions",
            ["invalid YAML: expected ',' or ']'", "started at line 2"],
            id="unclosed-flow",
        ),
        pytest.param(
            "name: 'tiny\nseeds: 1\n", "name:", ["invalid YAML: found unexpected end"], id="quote"
        ),
        pytest.param(
            "name: tiny\n---\nname: other\n",
            "---",
            ["invalid YAML: expected a single document in the stream, but found another"],
            id="two-documents",
        ),
        pytest.param(
            "name: tiny\nseeds: \x07\n",
            "seeds",
            ["invalid YAML: character U+0007 is not allowed"],
            id="control-character",
        ),
        pytest.param(
            "name: tiny\nname: other\n",
            "name: other",
            ["duplicate key 'name' (first at line 1); keep only one"],
            id="duplicate-key",
        ),
        pytest.param(
            "- name: tiny\n- seeds: 1\n",
            "- name",
            ["must be a YAML mapping of fields, got a list", "name, seeds, conditions"],
            id="top-level-list",
        ),
        pytest.param(
            "# just a comment\njust text\n",
            "just text",
            ["must be a YAML mapping", "got the single value 'just text'"],
            id="top-level-scalar",
        ),
    ],
)
def test_yaml_problems(tmp_path: Path, text: str, marker: str, words: list[str]) -> None:
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, marker)}: ")
    for word in words:
        assert word in message


def test_empty_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing yet\n")

    assert _error(path).startswith(f"{path}: the spec is empty; write 'field: value' lines")


def test_missing_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    message = _error(path)

    assert message.startswith(f"spec file '{path}' not found; check the path")


def test_non_text_key(tmp_path: Path) -> None:
    text = _variant("  n: 2", "  n: 2\n  on: 3")
    path = _write(tmp_path, text)

    message = _error(path)

    assert message.startswith(f"{path}:{_line(text, 'on: 3')}: spec field evaluation: key True ")
    assert "yes/no/on/off" in message
