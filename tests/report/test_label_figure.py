"""A label judge with more than two labels gets a figure of each label's share per condition."""

from __future__ import annotations

import matplotlib.image
import pandas as pd
import pytest
from report_data import make_samples, make_spec

from weirdgen.report import write_report
from weirdgen.report.labels import label_scorers, label_shares
from weirdgen.spec.models import ExperimentSpec

LABELS = ["LLM", "PAST", "OTHER"]


def with_category_judge(spec: ExperimentSpec) -> ExperimentSpec:
    data = spec.model_dump(mode="json")
    data["scorers"].append(
        {
            "name": "category",
            "kind": "label_judge",
            "model": "openai/judge",
            "prompt": "{answer}",
            "labels": LABELS,
            "positive": ["PAST"],
        }
    )
    return ExperimentSpec.model_validate(data)


def test_label_shares_are_per_seed_shares_averaged_over_seeds():
    rows = pd.DataFrame(
        {
            "condition": ["a"] * 6 + ["b"] * 2,
            "seed": [0, 0, 0, 0, 1, 1, 0, 0],
            "category_label": ["LLM", "LLM", "LLM", "PAST", "PAST", None, "OTHER", "LLM"],
        }
    )
    table = label_shares(rows, "category", LABELS).set_index("condition")
    # seed 0 of a: 3/4 LLM, 1/4 PAST; seed 1: 1/1 PAST (the unlabelled answer does not count)
    assert table.loc["a", "LLM"] == pytest.approx((0.75 + 0.0) / 2)
    assert table.loc["a", "PAST"] == pytest.approx((0.25 + 1.0) / 2)
    assert table.loc["a", "seeds"] == 2 and table.loc["b", "OTHER"] == pytest.approx(0.5)


def test_the_report_draws_it_and_leaves_two_label_judges_alone(tmp_path):
    spec = with_category_judge(make_spec())
    assert label_scorers(spec) == {"category": LABELS}
    samples = make_samples(spec)
    samples["category_label"] = [LABELS[i % 3] for i in range(len(samples))]
    paths = write_report(tmp_path, spec, samples)
    image = matplotlib.image.imread(paths.label_pngs["category"])
    assert image.shape[0] > 100 and image.std() > 0
    assert "figures/category_labels.png" in (tmp_path / "summary.md").read_text()
    assert label_scorers(make_spec()) == {}
