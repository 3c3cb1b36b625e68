"""A run's overrides: --n sets every prompt's sample count, over a set's and a question's."""

import yaml

from weirdgen.run.plan import prompts, with_overrides
from weirdgen.spec import builtin_spec_dir
from weirdgen.spec.models import ExperimentSpec


def test_an_n_override_sets_every_prompts_count_over_sets_and_questions():
    data = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    data["evaluation"]["sets"][0]["n"] = 7
    data["evaluation"]["sets"][1]["questions"][0]["samples_per_paraphrase"] = 100
    spec = ExperimentSpec.model_validate(data)
    everywhere = data["evaluation"]["n"]  # the modern-year set keeps the spec's n
    assert {p.n for p in prompts(spec)} == {7, 100, everywhere}
    assert {p.n for p in prompts(with_overrides(spec, n=3))} == {3}
    assert {p.n for p in prompts(with_overrides(spec, seeds=2))} == {7, 100, everywhere}
