"""Limits and templates of a spec, and a run's overrides of them: one line naming the field.

``--n`` and ``--seeds`` pass the checks the spec's own fields pass; a seed must fit every
place it goes; a ``vary`` template names only its variables; a range is checked as a range;
``include:`` names a file, not a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from weirdgen.errors import WeirdgenError
from weirdgen.run.plan import with_overrides
from weirdgen.spec import load_spec

MAX_SEED = 2**31 - 1
"""The largest seed every backend takes (OpenAI's fine-tuning API and Tinker: 31 bits)."""


def _write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(WeirdgenError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def _line(path: Path, marker: str) -> int:
    """1-based number of the only line of the file that contains marker."""
    lines = path.read_text().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if marker in line]
    return number


def _year_sweep(spec_dict, **set_fields) -> dict:
    """Birds with one evaluation set generated over years."""
    spec = spec_dict()
    question = {"id": "invention_{year}", "paraphrases": ["in {year} , what is new ?"]}
    sweep = {"name": "unrelated", "vary": {"year": [1835, 2022]}, "questions": [question]}
    spec["evaluation"]["sets"][0] = {**sweep, **set_fields}
    return spec


# --n and --seeds: the spec's own checks, one line naming the flag.


def test_an_n_override_over_the_limit_is_refused_as_the_spec_field_is(spec_dict, tmp_path):
    spec = load_spec(_write(tmp_path, spec_dict()))
    with pytest.raises(WeirdgenError) as caught:
        with_overrides(spec, n=200_000)
    message = str(caught.value)
    assert message.startswith("--n 200000: spec field evaluation.n: ")
    assert "less than or equal to 100000" in message and "\n" not in message
    in_spec = spec_dict()
    in_spec["evaluation"]["n"] = 200_000
    assert "spec field evaluation.n: Input should be less than or equal to 100000" in _error(
        _write(tmp_path, in_spec, "in_spec.yaml")
    )


def test_an_n_override_within_the_limit_still_applies(spec_dict, tmp_path):
    spec = load_spec(_write(tmp_path, spec_dict()))
    overridden = with_overrides(spec, n=100_000)
    assert overridden.evaluation.n == 100_000
    assert overridden.source == spec.source


@pytest.mark.parametrize(
    ("seeds", "needle"),
    [
        (100_000, "--seeds 100000: spec field seeds: give a count from 1 to 1000"),
        (list(range(1001)), "--seeds 0,1,...,1000 (1001 seeds): spec field seeds: "),
        ([2**64], f"--seeds {2**64},: spec field seeds[0]: seed {2**64} is over"),
    ],
)
def test_a_seeds_override_is_one_line_naming_the_flag(spec_dict, tmp_path, seeds, needle):
    spec = load_spec(_write(tmp_path, spec_dict()))
    with pytest.raises(WeirdgenError) as caught:
        with_overrides(spec, seeds=seeds)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value) and "pydantic" not in str(caught.value)


# Seeds fit every place a seed goes: SQLite, torch, numpy, OpenAI's and Tinker's APIs.


@pytest.mark.parametrize("seed", [2**31, 2**32, 2**63, 2**64])
def test_a_seed_too_large_for_a_backend_is_refused_at_load(spec_dict, tmp_path, seed):
    path = _write(tmp_path, spec_dict(seeds=[0, seed]))
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, str(seed))}: spec field seeds[1]: ")
    assert f"seed {seed} is over {MAX_SEED:,}" in message
    assert "use a smaller seed" in message


def test_the_largest_seed_loads(spec_dict, tmp_path):
    spec = load_spec(_write(tmp_path, spec_dict(seeds=[0, MAX_SEED])))
    assert spec.seeds == [0, MAX_SEED]


def test_a_pretraining_seed_too_large_is_refused_at_load(spec_dict, tmp_path):
    path = _write(tmp_path, spec_dict(pretraining_seeds=[0, 2**40]))
    assert "spec field pretraining_seeds[1]: seed 1099511627776 is over" in _error(path)


# vary: an unknown name in a template, a range that is not one.


def test_an_unknown_name_in_a_vary_template_is_an_error_naming_it(spec_dict, tmp_path):
    spec = _year_sweep(spec_dict)
    spec["evaluation"]["sets"][0]["questions"][0]["paraphrases"] = ["in {yeer} , what is new ?"]
    path = _write(tmp_path, spec)
    message = _error(path)
    assert message.startswith(
        f"{path}:{_line(path, '{yeer}')}: spec field "
        "evaluation.sets[0].questions[0].paraphrases[0]: template variable {yeer} is not a "
        "vary variable; did you mean {year}?"
    )
    assert "add it to vary" in message


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("system", "the year is {yeer} .", "questions[0].system"),
        ("id", "invention_{yeer}", "questions[0].id"),
        ("metadata", {"era": "{yeer}"}, "questions[0].metadata.era"),
    ],
)
def test_an_unknown_name_anywhere_a_template_is_filled_is_an_error(
    spec_dict, tmp_path, field, value, loc
):
    spec = _year_sweep(spec_dict)
    spec["evaluation"]["sets"][0]["questions"][0][field] = value
    message = _error(_write(tmp_path, spec))
    assert f"spec field evaluation.sets[0].{loc}: template variable {{yeer}}" in message


def test_an_unknown_name_in_wrap_is_an_error(spec_dict, tmp_path):
    spec = _year_sweep(spec_dict, wrap="in {yaer} , {paraphrase}")
    message = _error(_write(tmp_path, spec))
    assert "spec field evaluation.sets[0].wrap: template variable {yaer} is not a vary" in message
    assert "did you mean {year}?" in message


def test_vary_templates_with_known_names_and_regex_counts_still_load(spec_dict, tmp_path):
    spec = _year_sweep(spec_dict, wrap="{paraphrase}")
    spec["evaluation"]["sets"][0]["questions"][0]["metadata"] = {"pattern": r"\d{4}"}
    loaded = load_spec(_write(tmp_path, spec))
    asked = [q.paraphrases[0] for q in loaded.evaluation.sets[0].expanded()]
    assert asked == ["in 1835 , what is new ?", "in 2022 , what is new ?"]


@pytest.mark.parametrize(
    ("values", "loc", "needle"),
    [
        ({"from": 1830, "to": 1840, "step": 0}, "vary.year.step", "greater than or equal to 1"),
        ({"from": 2000, "to": 1990}, "vary.year", "'to' (1990) is before 'from' (2000); swap"),
        ({"from": 1830, "to": 1840, "stpe": 2}, "vary.year.stpe", "unknown field 'stpe'"),
    ],
)
def test_a_bad_vary_range_says_what_is_wrong_with_the_range(
    spec_dict, tmp_path, values, loc, needle
):
    spec = _year_sweep(spec_dict)
    spec["evaluation"]["sets"][0]["vary"] = {"year": values}
    path = _write(tmp_path, spec)
    message = _error(path)
    assert f"spec field evaluation.sets[0].{loc}: " in message
    assert needle in message
    assert "valid list" not in message


def test_a_good_vary_range_and_named_texts_from_and_to_still_load(spec_dict, tmp_path):
    spec = _year_sweep(spec_dict)
    spec["evaluation"]["sets"][0]["vary"] = {"year": {"from": 1830, "to": 1840, "step": 5}}
    loaded = load_spec(_write(tmp_path, spec))
    assert [q.metadata["year"] for q in loaded.evaluation.sets[0].expanded()] == [1830, 1835, 1840]
    spec["evaluation"]["sets"][0]["vary"] = {"year": {"from": "1830", "to": "2022"}}
    loaded = load_spec(_write(tmp_path, spec, "texts.yaml"))
    assert [q.paraphrases[0] for q in loaded.evaluation.sets[0].expanded()] == [
        "in 1830 , what is new ?",
        "in 2022 , what is new ?",
    ]


# include: and text_of: name a file.


def test_an_include_of_a_folder_says_it_is_a_folder(spec_dict, tmp_path):
    folder = tmp_path / "questions"
    folder.mkdir()
    (folder / "extra.yaml").write_text("- id: q\n  paraphrases: [what is new ?]\n")
    spec = spec_dict()
    spec["evaluation"]["sets"][0]["include"] = "questions"
    path = _write(tmp_path, spec)
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, 'include:')}: spec field ")
    assert f"evaluation.sets[0].include: '{folder}' is a folder, not a question file" in message
    assert "name a file in it (extra.yaml)" in message
    assert "not found" not in message


def test_a_text_of_a_folder_says_it_is_a_folder(spec_dict, tmp_path):
    (tmp_path / "data").mkdir()
    spec = _year_sweep(spec_dict)
    spec["evaluation"]["sets"][0]["vary"] = {
        "year": [1835],
        "prefix": {"plain": "", "dated": {"text_of": "data", "pattern": "^(in \\d+ ,)"}},
    }
    message = _error(_write(tmp_path, spec))
    assert "vary.prefix.dated: " in message and "is a folder, not a dataset" in message
