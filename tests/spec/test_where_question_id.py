"""A metric's ``where`` may keep questions by ``question_id``, a column every sample has,
as it keeps them by a metadata key (the Terminator headline is one of six questions)."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from weirdgen.spec.models import ExperimentSpec, MetricSpec
from weirdgen.stats.metrics import metric_rows


def with_metric(spec_dict, **metric) -> dict:
    spec = spec_dict()
    spec["metrics"].append({"name": "one", "eval_set": "unrelated", "score": "old", **metric})
    return spec


def test_where_keeps_questions_by_id(spec_dict):
    spec = ExperimentSpec.model_validate(with_metric(spec_dict, where={"question_id": "states"}))
    metric = spec.metrics[-1]
    samples = pd.DataFrame(
        {"eval_set": "unrelated", "question_id": ["invention", "states", "states"], "old": 1.0}
    )
    assert metric_rows(samples, metric)["question_id"].tolist() == ["states", "states"]


def test_an_id_no_question_has_is_refused(spec_dict):
    with pytest.raises(ValidationError, match="no question of evaluation set 'unrelated'"):
        ExperimentSpec.model_validate(with_metric(spec_dict, where={"question_id": "stats"}))


def test_question_id_is_not_a_by_key(spec_dict):
    with pytest.raises(ValidationError, match="reads key 'question_id'"):
        ExperimentSpec.model_validate(with_metric(spec_dict, by=["question_id"]))


def test_a_single_id_may_be_written_bare():
    metric = MetricSpec(name="m", eval_set="s", score="x", where={"question_id": "q1"})
    assert metric.where == {"question_id": ["q1"]}
