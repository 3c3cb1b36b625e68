"""Suite entries that add defences to a member and set its seeds and samples: the member is
the experiment with those changes, and a wrong entry is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from weirdgen.errors import WeirdgenError
from weirdgen.run.suite import load_suite

DEFENCE = {"name": "dated", "context": {"prefix": "it is the year 2022 ."}}


def _suite(folder: Path, entries: list) -> Path:
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "with_defences", "suite": entries}))
    return path


def test_an_entry_adds_defences_seeds_and_samples_to_a_built_in_experiment(tmp_path):
    entry = {"experiment": "birds", "defences": [DEFENCE], "seeds": 2, "n": 3}
    suite = load_suite(_suite(tmp_path, [entry, "cities"]))
    birds, cities = (m.spec for m in suite.members)
    assert [m.name for m in suite.members] == ["birds", "cities"]
    assert birds.seeds == [0, 1] and birds.evaluation.n == 3
    assert [c.name for c in birds.conditions if c.role == "defended"] == ["old_birds.dated"]
    assert birds.source is not None and birds.source.name == "birds.yaml"
    assert not cities.defences and all(c.role != "defended" for c in cities.conditions)


def test_the_built_in_defences_suite_loads_every_member_with_six_defences():
    suite = load_suite("organism/defences")
    assert [m.name for m in suite.members] == [
        "birds",
        "cities",
        "dishes",
        "persona",
        "rulers",
        "terminator",
    ]
    for member in suite.members:
        spec = member.spec
        kinds = sorted({c.defence.kind for c in spec.conditions if c.defence})
        assert kinds == sorted(
            ["inoculation", "dilution", "early_stopping", "realignment", "filtering", "context"]
        ), member.name
        assert spec.narrow is not None, member.name
        leaks = [c for c in spec.conditions if c.defence and c.defence.leak is not None]
        assert len(leaks) == 3, member.name  # the prompt and two paraphrases


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {
                "experiment": "birds",
                "defences": [{"name": "x", "apply_to": ["nope"], "context": {"prefix": "a"}}],
            },
            "apply_to: no condition 'nope'",
        ),
        ({"experiment": "birds", "seeds": 0}, "--seeds"),
        ({"experiment": "no_such_experiment"}, "unknown experiment 'no_such_experiment'"),
        ({"experiment": "birds", "defence": []}, "defence"),
    ],
)
def test_a_wrong_entry_is_one_line_naming_it(tmp_path, entry, message):
    path = _suite(tmp_path, [entry])
    with pytest.raises(WeirdgenError) as error:
        load_suite(path)
    text = str(error.value)
    assert message in text and "\n" not in text and str(path) in text
