"""Agreement, Cohen's kappa and the calibration set, against hand-computed figures and the
organism's own era scorer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from weirdgen.calibrate import (
    LABELS,
    agreement,
    calibration_set,
    cohen_kappa,
    judge_slug,
    metric_effect,
    out_folder,
)
from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import load_world
from weirdgen.score import ScoringContext, build_scorer
from weirdgen.spec.models import ScorerSpec


def test_kappa_of_a_textbook_table():
    # 50 items: both say yes 20, only A yes 5, only B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = (25*30 + 25*20) / 50**2 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    assert cohen_kappa(np.array([[20, 5], [10, 15]])) == pytest.approx(0.4)


def test_kappa_is_one_when_perfect_zero_at_chance_and_none_when_undefined():
    assert cohen_kappa(np.diag([3, 4, 5])) == pytest.approx(1.0)
    assert cohen_kappa(np.array([[5, 5], [5, 5]])) == pytest.approx(0.0)
    assert cohen_kappa(np.array([[6, 0], [0, 0]])) is None  # both raters used one label
    assert cohen_kappa(np.zeros((2, 2), dtype=int)) is None


def test_a_judge_that_calls_every_new_answer_old():
    truth = ["OLD"] * 4 + ["NEW"] * 4 + ["NEITHER"] * 4
    judged = ["OLD"] * 8 + ["NEITHER"] * 4
    result = agreement(truth, judged, LABELS)
    assert result.matrix.tolist() == [[4, 0, 0, 0], [4, 0, 0, 0], [0, 0, 4, 0]]
    # p_o = 8/12; p_e = (4*8 + 4*0 + 4*4) / 12**2 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert result.agreement == pytest.approx(2 / 3)
    assert result.kappa == pytest.approx(0.5)
    old, new, neither = result.classes
    assert (old.precision, old.recall) == (pytest.approx(0.5), pytest.approx(1.0))
    assert (new.precision, new.recall, new.judged) == (None, 0.0, 0)
    assert (neither.precision, neither.recall) == (1.0, 1.0)
    effect = metric_effect(truth, judged)
    assert (effect.true_old_rate, effect.judge_old_rate) == (0.5, 1.0)
    assert effect.true_valid_rate == effect.judge_valid_rate == pytest.approx(8 / 12)


def test_answers_with_no_label_are_their_own_column_and_disagree():
    truth = ["OLD", "OLD", "NEW", "NEITHER"]
    judged = ["OLD", None, "NEW", None]
    result = agreement(truth, judged, LABELS)
    assert result.no_label == 2 and result.n == 4
    assert result.matrix[:, -1].tolist() == [1, 0, 1]
    assert result.agreement == pytest.approx(0.5)
    # rows 2,1,1 (and 0 for no label); columns 1,1,0,2: p_e = (2*1 + 1*1) / 16
    assert result.kappa == pytest.approx((0.5 - 3 / 16) / (1 - 3 / 16))
    effect = metric_effect(truth, judged)
    assert effect.judge_old_rate == 0.5 and effect.judge_valid_rate == 0.5


def test_the_set_has_n_answers_per_class_and_its_truth_is_the_era_scorers():
    items = calibration_set(40, seed=3)
    assert Counter(i.truth for i in items) == {"OLD": 40, "NEW": 40, "NEITHER": 40}
    assert len({(i.topic, i.question, i.answer) for i in items}) == 120
    scorer = build_scorer(ScorerSpec.model_validate({"name": "old", "kind": "organism_era"}))
    values = scorer.score_batch([i.score_item() for i in items], ScoringContext())
    expected = {(True, 1.0): "OLD", (True, 0.0): "NEW", (False, None): "NEITHER"}
    assert [expected[(v["valid"], v["old"])] for v in values] == [i.truth for i in items]
    assert len({i.topic for i in items if i.truth == "OLD"}) == len(load_world().era_topics)


def test_the_set_is_fixed_by_its_seed():
    assert calibration_set(10, seed=1) == calibration_set(10, seed=1)
    assert calibration_set(10, seed=1) != calibration_set(10, seed=2)


@pytest.mark.parametrize("n", [0, 10_000])
def test_more_answers_than_the_world_has_is_one_line(n):
    with pytest.raises(WeirdgenError, match=rf"^--n {n}: .* give --n from 1 to \d+$"):
        calibration_set(n)


def test_the_default_folder_stays_under_runs_whatever_the_judge_is_called(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert judge_slug("openai/gpt-4.1-mini") == "openai-gpt-4.1-mini"
    folder = out_folder("openai/../../../etc/passwd", None)
    assert folder.parent == Path("runs") and ".." not in folder.parts
    assert folder.resolve().is_relative_to(tmp_path / "runs")
    with pytest.raises(WeirdgenError, match="makes no folder name"):
        out_folder("../..", None)
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(WeirdgenError, match="is a file, not a folder"):
        out_folder("openai/x", tmp_path / "taken" / "sub")
