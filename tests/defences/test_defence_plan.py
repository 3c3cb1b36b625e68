"""weirdgen plan counts what defences add: a test-time context's own samples of a shared
finetune, a re-alignment's second stage."""

from __future__ import annotations

import yaml

from weirdgen.plan import estimate
from weirdgen.run.plan import prompts
from weirdgen.spec import load_spec


def test_plan_counts_a_context_s_samples_and_a_second_stage(tmp_path, spec_dict):
    spec = spec_dict(seeds=[0, 1])
    spec["evaluation"]["n"] = 2
    spec["defences"] = [
        {"name": "dated", "context": {"prefix": "it is the year 2022 ."}},
        {"name": "realigned", "realignment": {"dataset": {"organism": "birds_modern", "n": 20}}},
    ]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load_spec(path)
    plan = estimate(loaded, out=tmp_path / "run")
    per_model = sum(p.n for p in prompts(loaded))
    assert plan.finetunes == 3 * 2  # old, modern and the realigned second stage, per seed
    # base, old, modern, old under the context, realigned: five models' samples per seed
    assert plan.samples == 5 * 2 * per_model


def test_an_inspect_task_refuses_a_condition_asked_with_test_time_changes(tmp_path, spec_dict):
    import pytest

    pytest.importorskip("inspect_ai")
    from weirdgen.errors import WeirdgenError
    from weirdgen.inspect.tasks import experiment_task

    spec = spec_dict(seeds=[0])
    spec["defences"] = [{"name": "dated", "context": {"prefix": "it is the year 2022 ."}}]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(WeirdgenError, match="test-time changes"):
        experiment_task(str(path), condition="old_birds.dated")
    assert experiment_task(str(path), condition="old_birds") is not None
