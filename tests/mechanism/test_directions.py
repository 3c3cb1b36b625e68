"""Directions from contrast sets: the mean difference and the probe, their held-out accuracy on
sets built to be separable (exact) or alike (near chance), and the direction file."""

from __future__ import annotations

import sys

import pytest
import torch

from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction, mean_difference
from weirdgen.mechanism.probe import find_directions, split

WIDTH = 16


def sets(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sets at layers (3, 5): at layer 3 they lie 10 apart along axis 0, both on its
    positive side (a threshold at 0 would call every prompt positive), with noise of 0.1 on
    every axis; at layer 5 both are drawn from one distribution."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 2, WIDTH, generator=g) * 0.1
    neg = torch.randn(n, 2, WIDTH, generator=g) * 0.1
    pos[:, 0, 0] += 12.0
    neg[:, 0, 0] += 2.0
    pos[:, 1] = torch.randn(n, WIDTH, generator=g)
    neg[:, 1] = torch.randn(n, WIDTH, generator=g)
    return pos, neg


@pytest.mark.parametrize("method", ["mean_difference", "probe"])
def test_separable_sets_give_the_separating_axis_and_full_accuracy(method):
    pos, neg = sets()
    era, same = find_directions("era", pos, neg, method, "model-key", [3, 5], seed=1)
    assert (era.layer, same.layer) == (3, 5)
    assert era.heldout_accuracy == 1.0
    assert float(era.vector[0]) > 0.95  # unit vector, nearly all of it on axis 0
    assert float(era.vector.norm()) == pytest.approx(1.0, abs=1e-5)
    assert era.scale == pytest.approx(10.0 * float(era.vector[0]), abs=0.1)
    assert era.method == method and era.model == "model-key" and era.name == "era"
    assert era.info["heldout_positive"] == 10 and era.info["heldout_negative"] == 10
    assert era.info["positive"] == 40 and era.info["seed"] == 1


def test_mean_difference_accuracy_thresholds_at_the_midpoint():
    """Both sets project on the positive side; only the midpoint (7 here) separates them."""
    pos, neg = sets()
    (era,) = find_directions("era", pos[:, :1], neg[:, :1], "mean_difference", "m", [3])
    assert era.heldout_accuracy == 1.0
    assert (neg[:, 0] @ era.vector > 0).all()
    assert era.scale == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize("method", ["mean_difference", "probe"])
def test_sets_from_one_distribution_are_near_chance(method):
    g = torch.Generator().manual_seed(7)
    pos, neg = torch.randn(200, 1, WIDTH, generator=g), torch.randn(200, 1, WIDTH, generator=g)
    (found,) = find_directions("nothing", pos, neg, method, "m", [0], test_share=0.5)
    assert 0.3 <= found.heldout_accuracy <= 0.7
    assert abs(found.scale) < 0.5


def test_no_held_out_prompts_gives_the_mean_difference_of_all():
    pos, neg = sets()
    directions = find_directions("era", pos, neg, "mean_difference", "m", [3, 5], test_share=0)
    units, scales = mean_difference(pos, neg)
    for i, direction in enumerate(directions):
        assert direction.heldout_accuracy is None
        torch.testing.assert_close(direction.vector, units[i])
        assert direction.scale == pytest.approx(float(scales[i]), rel=1e-5)


def test_the_split_is_seeded_stratified_and_disjoint():
    first, again, other = split(10, 7, 0.25, 0), split(10, 7, 0.25, 0), split(10, 7, 0.25, 1)
    for a, b in zip(first, again, strict=True):
        assert a.tolist() == b.tolist()
    assert any(a.tolist() != b.tolist() for a, b in zip(first, other, strict=True))
    assert (len(first.positive_test), len(first.negative_test)) == (2, 2)
    assert sorted([*first.positive_train, *first.positive_test]) == list(range(10))
    assert sorted([*first.negative_train, *first.negative_test]) == list(range(7))
    assert len(split(2, 2, 0.9, 0).positive_train) == 1  # one is always left to fit on
    paired = split(12, 12, 0.25, 3)
    assert paired.positive_test.tolist() == paired.negative_test.tolist()


def test_paired_sets_keep_their_pairs_on_either_side_of_the_split():
    """Line i of each set is prompt i with the contrast (axis 1) switched on or off; the
    prompts differ far more than that on the other axes. Fitted on the same prompts of each
    set, the means' difference is the contrast alone; had each set held out other prompts,
    their differences (about 7 against 1) would have set the direction."""
    g = torch.Generator().manual_seed(0)
    prompts = torch.randn(40, 1, WIDTH, generator=g) * 5.0
    prompts[:, :, 1] = 0.0
    contrast = torch.zeros(WIDTH)
    contrast[1] = 1.0
    (found,) = find_directions("c", prompts + contrast, prompts, "mean_difference", "m", [0])
    assert found.heldout_accuracy == 1.0
    assert float(found.vector[1]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("n_pos", "n_neg", "share", "message"),
    [
        (0, 5, 0.25, "positive contrast set is empty"),
        (5, 1, 0.25, "negative contrast set has 1 prompt"),
        (5, 5, 1.0, "test_share 1.0"),
        (5, 5, -0.1, "test_share -0.1"),
    ],
)
def test_bad_sets_are_one_line(n_pos, n_neg, share, message):
    with pytest.raises(WeirdgenError, match=message) as raised:
        find_directions(
            "x", torch.ones(n_pos, 1, 4), torch.zeros(n_neg, 1, 4), "probe", "m", [0], share
        )
    assert "\n" not in str(raised.value)


def test_wrong_shapes_method_and_identical_sets_are_one_line():
    pos, neg = sets()
    with pytest.raises(WeirdgenError, match="same layers"):
        find_directions("x", pos, neg[:, :1], "probe", "m", [0])
    with pytest.raises(WeirdgenError, match="2 layer indices for activations of 1 layers"):
        find_directions("x", pos[:, :1], neg[:, :1], "probe", "m", [0, 1])
    with pytest.raises(WeirdgenError, match="give one of mean_difference, probe"):
        find_directions("x", pos, neg, "pca", "m", [0, 1])
    with pytest.raises(WeirdgenError, match="do not differ"):
        find_directions("x", torch.ones(4, 1, 3), torch.ones(4, 1, 3), "mean_difference", "m", [2])


def test_probe_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    pos, neg = sets()
    with pytest.raises(WeirdgenError, match=r"pip install 'weirdgen\[mechanism\]'"):
        find_directions("x", pos, neg, "probe", "m", [3, 5])
    assert find_directions("x", pos, neg, "mean_difference", "m", [3, 5])


def test_direction_file_round_trip(tmp_path):
    pos, neg = sets()
    era = find_directions("era", pos, neg, "probe", "model-key", [3, 5], info={"position": "last"})[
        0
    ]
    path = era.save(tmp_path / "era-layer3")
    assert path.name == "era-layer3.direction.safetensors"
    back = Direction.load(path)
    torch.testing.assert_close(back.vector, era.vector)
    assert back.metadata() == era.metadata()
    assert back.info["position"] == "last" and back.info["probe_converged"] is True


def test_bad_direction_files_are_one_line(tmp_path):
    with pytest.raises(WeirdgenError, match="no such direction file"):
        Direction.load(tmp_path / "missing.direction.safetensors")
    garbage = tmp_path / "garbage.direction.safetensors"
    garbage.write_bytes(b"\x00" * 50)
    with pytest.raises(WeirdgenError, match="not a weirdgen direction file") as raised:
        Direction.load(garbage)
    assert "\n" not in str(raised.value)


def test_mean_difference_exact():
    pos = torch.tensor([[[3.0, 4.0]], [[3.0, 4.0]]])
    neg = torch.zeros(3, 1, 2)
    units, scales = mean_difference(pos, neg)
    torch.testing.assert_close(units, torch.tensor([[0.6, 0.8]]))
    torch.testing.assert_close(scales, torch.tensor([5.0]))
    with pytest.raises(WeirdgenError, match="empty"):
        mean_difference(pos[:0], neg)
