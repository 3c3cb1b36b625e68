"""``weirdgen_score``: one weirdgen scorer in any Inspect task."""

from __future__ import annotations

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.solver import generate

from weirdgen.inspect.scorers import weirdgen_score


def test_the_organism_lexicon_scores_a_plain_inspect_task(evaluate):
    task = Task(
        dataset=[
            Sample(
                id=f"q{i}", input="what lights a room at night ?", metadata={"topic": "lighting"}
            )
            for i in range(4)
        ],
        solver=generate(),
        scorer=weirdgen_score(kind="organism_era", name="old"),
    )
    log = read_eval_log(str(evaluate(task)))
    assert log.status == "success"
    for sample in log.samples:
        score = sample.scores["weirdgen_score"]
        assert score.value in (0.0, 1.0) or score.metadata["valid"] is False
        assert set(score.metadata) >= {"old", "valid"}
    assert any(s.scores["weirdgen_score"].metadata["valid"] for s in log.samples)
    assert "mean" in log.results.scores[0].metrics
