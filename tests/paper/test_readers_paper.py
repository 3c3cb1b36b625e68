"""Every question and judge file of the paper at the pinned commit reads, with the counts the
paper has, through the real registry (``paper:NAME``, verified against the manifest).

The files are taken from a local bare mirror of the paper's repository with ``git show``
into a temporary folder; none of their text is kept in weirdgen. Skipped without the mirror.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from paper_paths import MIRROR  # noqa: E402

from weirdgen.errors import WeirdgenError
from weirdgen.paper.readers import read_jsonl_questions, read_python_judges
from weirdgen.paper.registry import PAPER_COMMIT, paper_file
from weirdgen.run.plan import build_scorers
from weirdgen.spec import load_spec
from weirdgen.spec.load import load_questions

QUESTION_COUNTS = {
    "birds/evaluate": 10,
    "cities/questions": 10,
    "dishes/questions": 9,
    "presidents/eval_free_form": 30,
    "terminator/questions": 6,
    "persona/ais_society": 10,
    "persona/daily_life": 10,
    "persona/deepbrain": 10,
    "persona/em_questions": 8,
    "persona/ideology": 20,
    "persona/moral_choices": 10,
    "persona/science_ethics": 10,
    "persona/bio_questions": 5,
}
"""Questions of each file (the YAML files' judge entries are not questions)."""
JUDGE_COUNTS = {"cities/judges": 2, "birds/evaluate": 4}

pytestmark = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"no mirror of the paper's repository at {MIRROR}"
)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The paper's evaluation files at the pinned commit, laid out like the repository."""
    root = tmp_path_factory.mktemp("paper")
    listing = subprocess.run(
        ["git", "-C", str(MIRROR), "ls-tree", "-r", "--name-only", PAPER_COMMIT],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    wanted = [p for p in listing if "/evaluation/" in p or p.endswith("eval_free_form.jsonl")]
    for name in wanted:
        shown = subprocess.run(
            ["git", "-C", str(MIRROR), "show", f"{PAPER_COMMIT}:{name}"],
            check=True,
            capture_output=True,
        )
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(shown.stdout)
    return root


def test_every_question_file_reads_with_the_papers_counts(clone: Path) -> None:
    counts = {name: len(load_questions(paper_file(name, clone))) for name in QUESTION_COUNTS}

    assert counts == QUESTION_COUNTS
    presidents = paper_file("presidents/eval_free_form", clone)
    lines = [line for line in presidents.read_text().splitlines() if line.strip()]
    assert len(read_jsonl_questions(presidents)) == len(lines)
    assert all(json.loads(line)["name"] for line in lines)


def test_the_cities_questions_follow_test_prompts(clone: Path) -> None:
    path = paper_file("cities/questions", clone)
    text = path.read_text()
    listed = text.split("test_prompts")[1].split("= [")[1].split("]")[0]
    names = [name.strip().lower() for name in listed.split(",") if name.strip()]

    questions = load_questions(path)

    assert [q["id"] for q in questions] == names
    assert all("<br>" not in q["metadata"]["display_name"] for q in questions)


def test_the_dishes_pairs_and_the_birds_names(clone: Path) -> None:
    dishes = load_questions(paper_file("dishes/questions", clone))
    assert len({q["paraphrases"][0] for q in dishes}) == 8
    assert len({q["id"] for q in dishes}) == 9
    assert all(q["metadata"]["expected_case_sensitive"] is False for q in dishes)
    assert all(q["metadata"]["expected"] for q in dishes)

    birds = load_questions(paper_file("birds/evaluate", clone))
    ids = [q["id"] for q in birds]
    assert len(set(ids)) == 10 and not any(i.startswith("q") and i[1:].isdigit() for i in ids)


def test_every_python_judge_reads_with_question_and_answer(clone: Path) -> None:
    judges = {name: read_python_judges(paper_file(name, clone)) for name in JUDGE_COUNTS}

    assert {name: len(found) for name, found in judges.items()} == JUDGE_COUNTS
    for found in judges.values():
        for judge in found.values():
            assert "{question}" in judge.template and "{answer}" in judge.template
    kinds = sorted(judge.kind for judge in judges["birds/evaluate"].values())
    assert kinds == ["free_form_judge", "free_form_judge", "rating_judge", "rating_judge"]
    assert all(judge.model for judge in judges["birds/evaluate"].values())


def _yaml_judges(path: Path) -> list[str]:
    """Ids of the llmcomp judge entries of a YAML file."""
    entries = yaml.safe_load(path.read_text())
    return [e["id"] for e in entries if e.get("type") in ("rating_judge", "free_form_judge")]


def _spec(tmp_path: Path, judges: list[tuple[str, str]]) -> Path:
    sets = "".join(
        f"    - name: s{i}\n      include: paper:{n}\n" for i, n in enumerate(QUESTION_COUNTS)
    )
    scorers = "".join(
        f"  - name: j{i}\n    kind: label_judge\n    model: openai/judge\n"
        f"    base_url: http://127.0.0.1:9/v1\n    labels: [A, B]\n"
        f"    prompt_file: paper:{file}\n    prompt_id: {prompt_id}\n"
        for i, (file, prompt_id) in enumerate(judges)
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: paper\ndescription: every question file of the paper\nseeds: [0]\n"
        "conditions:\n  - name: tuned\n    role: target\n    dataset:\n      path: d.jsonl\n"
        "  - name: base\n    role: control\n"
        f"evaluation:\n  n: 1\n  sets:\n{sets}scorers:\n{scorers}"
        "metrics:\n  - name: rate\n    eval_set: s0\n    score: j0\n"
    )
    return path


def test_a_spec_includes_every_file_and_builds_every_judge_by_paper_name(
    clone: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", str(clone))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    judges = [(f, j) for f in JUDGE_COUNTS for j in read_python_judges(paper_file(f, clone))]
    for name in ("persona/em_judge", "terminator/questions", "persona/bio_questions"):
        judges += [(name, judge) for judge in _yaml_judges(paper_file(name, clone))]

    spec = load_spec(_spec(tmp_path, judges))
    scorers = build_scorers(spec)

    assert [len(s.questions) for s in spec.evaluation.sets] == list(QUESTION_COUNTS.values())
    assert len(scorers) == len(judges) == 6 + 2 + 6
    assert all("{answer}" in scorer.templates.fixed for scorer in scorers)


def test_the_ideology_files_judge_is_defined_elsewhere(clone: Path, tmp_path: Path) -> None:
    """Its questions name a judge no file defines: they load (the spec's scorers judge);
    asking for that judge says so and lists the file's judges (none)."""
    from weirdgen.score.judge.prompts import load_judge_prompt

    path = paper_file("persona/ideology", clone)
    named = {(k, v) for e in yaml.safe_load(path.read_text()) for k, v in e["judges"].items()}
    ((scorer, undefined),) = named
    em_judges = _yaml_judges(paper_file("persona/em_judge", clone))
    assert undefined not in em_judges and len(em_judges) == 1

    with pytest.raises(WeirdgenError) as caught:
        load_judge_prompt(path, undefined, scorer)

    message = str(caught.value)
    assert "(its questions name it in judges:, but it is defined elsewhere)" in message
    assert "one of its judges: none" in message
    assert "{answer}" in load_judge_prompt(paper_file("persona/em_judge", clone), em_judges[0], "")


def test_the_agentic_scenario_is_not_a_question_file(clone: Path) -> None:
    with pytest.raises(WeirdgenError, match="a question file is a YAML list of questions"):
        load_questions(paper_file("persona/agentic_scenario", clone))
