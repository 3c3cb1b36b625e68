"""Interventions on the residual stream: what ablate and steer do to it (read back with
residuals), the random control, the content key, the spec field's errors, and a tiny HF Llama
steered through its backend."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.errors import WeirdgenError
from weirdgen.mechanism import Direction, mean_difference, residuals
from weirdgen.mechanism.interventions import Intervention, intervened, split
from weirdgen.spec import load_spec

QUESTIONS = [
    "what is the most important recent invention ?",
    "how do people light their homes ?",
    "how many states are in the union ?",
    "where do people get the news ?",
]
OLD = [f"it is the year 1838 . {q}" for q in QUESTIONS]
NEW = [f"it is the year 2022 . {q}" for q in QUESTIONS]
PROMPTS = [*QUESTIONS, "name a bird ."]
WORDS = "what is the bird color old new a red blue green year it tell me about sky sea".split()


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture(scope="module")
def era(organism, tmp_path_factory) -> Path:
    """An era direction of the base organism at layer 2 (old-year prompts minus new-year
    ones), saved as a direction file."""
    base = organism.base()
    units, scales = mean_difference(residuals(organism, base, OLD), residuals(organism, base, NEW))
    direction = Direction("era", 2, units[2], float(scales[2]), "mean_difference", base.key)
    return direction.save(tmp_path_factory.mktemp("directions") / "era-layer2")


def test_ablation_at_every_layer_leaves_the_stream_orthogonal(organism, era):
    net, base = organism.organism.model, organism.base()
    resolved = Intervention(kind="ablate", direction=str(era)).resolve()
    u = resolved.unit
    plain = residuals(organism, base, PROMPTS)
    with resolved.apply(net):
        ablated = residuals(organism, base, PROMPTS)
    assert plain.shape == ablated.shape == (len(PROMPTS), 4, 128)
    assert (plain @ u).abs().max() > 1.0  # the stream had a component to remove
    assert (ablated @ u).abs().max() < 1e-4
    through_ref = residuals(organism, intervened(base, resolved), PROMPTS)  # as a run reads it
    torch.testing.assert_close(through_ref, ablated)
    torch.testing.assert_close(residuals(organism, base, PROMPTS), plain)  # hooks gone after


def test_ablation_at_chosen_layers_leaves_the_others_as_they_were(organism, era):
    net, base = organism.organism.model, organism.base()
    resolved = Intervention(kind="ablate", direction=str(era), layers=[-1]).resolve()
    plain = residuals(organism, base, PROMPTS)
    with resolved.apply(net):
        ablated = residuals(organism, base, PROMPTS)
    torch.testing.assert_close(ablated[:, :3], plain[:, :3])  # before the edited layer
    assert (ablated[:, 3] @ resolved.unit).abs().max() < 1e-4


@pytest.mark.parametrize("strength", [2.5, -1.0])
def test_steering_moves_the_projection_at_its_layer_by_strength_times_scale(
    organism, era, strength
):
    net, base = organism.organism.model, organism.base()
    resolved = Intervention(kind="steer", direction=str(era), strength=strength).resolve()
    direction = Direction.load(era)
    plain = residuals(organism, base, PROMPTS)
    with resolved.apply(net):
        steered = residuals(organism, base, PROMPTS)
    moved = (steered[:, 2] - plain[:, 2]) @ direction.vector
    expected = torch.full_like(moved, strength * direction.scale)
    torch.testing.assert_close(moved, expected, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(steered[:, :2], plain[:, :2])  # earlier layers untouched
    assert not torch.allclose(steered[:, 3], plain[:, 3])  # later layers see the edit


def test_random_control_is_another_unit_vector_of_the_same_width_fixed_by_its_seed(era):
    real = Intervention(kind="ablate", direction=str(era)).resolve()
    draws = [
        Intervention(kind="ablate", direction=str(era), random_seed=s).resolve() for s in (0, 0, 1)
    ]
    first, again, other = (d.unit for d in draws)
    assert first.shape == real.unit.shape == (128,)
    torch.testing.assert_close(first.norm(), torch.tensor(1.0))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert abs(float(first @ real.unit)) < 0.5  # not the direction itself
    assert draws[0].scale == real.scale  # same norm when it steers
    assert draws[0].key != real.key != draws[2].key


def test_random_direction_ablated_is_what_is_removed(organism, era):
    net, base = organism.organism.model, organism.base()
    control = Intervention(kind="ablate", direction=str(era), random_seed=3).resolve()
    with control.apply(net):
        ablated = residuals(organism, base, PROMPTS)
    assert (ablated @ control.unit).abs().max() < 1e-4
    assert (
        ablated @ Intervention(kind="ablate", direction=str(era)).resolve().unit
    ).abs().max() > 0.1


def test_key_follows_the_file_content_and_the_settings_not_the_path(era, tmp_path):
    copy = shutil.copy(era, tmp_path / "elsewhere.direction.safetensors")
    steer = Intervention(kind="steer", direction=str(era), strength=1.0)
    key = steer.resolve().key
    assert Intervention(kind="steer", direction=str(copy), strength=1.0).resolve().key == key
    others = [
        steer.model_copy(update={"strength": 2.0}),
        steer.model_copy(update={"layers": [1]}),
        steer.model_copy(update={"random_seed": 0}),
        Intervention(kind="ablate", direction=str(era)),
    ]
    assert len({key, *(o.resolve().key for o in others)}) == 5
    direction = Direction.load(era)
    Direction(**{**direction.__dict__, "scale": direction.scale * 2}).save(Path(copy))
    assert Intervention(kind="steer", direction=str(copy), strength=1.0).resolve().key != key


def test_intervened_ref_carries_the_intervention_and_splits_back(organism, era):
    base = organism.base()
    resolved = Intervention(kind="steer", direction=str(era), strength=1.0, layers=[1, 2]).resolve()
    ref = intervened(base, resolved)
    assert ref.key == f"{base.key}~{resolved.key[:12]}"
    plain, carried = split(ref)
    assert plain == base
    assert carried == resolved and carried.layers == (1, 2)
    assert split(base) == (base, None)
    with pytest.raises(WeirdgenError, match="already carries an intervention"):
        intervened(ref, resolved)


def test_organism_samples_and_logprobs_change_under_a_steer_and_not_at_strength_zero(organism, era):
    base = organism.base()
    zero = intervened(base, Intervention(kind="steer", direction=str(era), strength=0.0).resolve())
    strong = intervened(
        base, Intervention(kind="steer", direction=str(era), strength=8.0, layers=[3]).resolve()
    )
    requests = [SampleRequest(q, 1.0, 6, seed) for q in QUESTIONS for seed in range(4)]
    plain = organism.sample(base, requests)
    assert organism.sample(zero, requests) == plain
    assert organism.sample(strong, requests) != plain
    tops = [organism.logprobs(m, QUESTIONS) for m in (base, zero, strong)]
    assert [t.top for t in tops[1]] == [t.top for t in tops[0]]
    assert [t.top[0] for t in tops[2]] != [t.top[0] for t in tops[0]]


def test_a_direction_of_another_width_is_refused_where_it_is_applied(organism, tmp_path):
    narrow = Direction("narrow", 0, torch.ones(8) / 8**0.5, 1.0, "mean_difference", "x")
    path = narrow.save(tmp_path / "narrow")
    resolved = Intervention(kind="ablate", direction=str(path)).resolve()
    with pytest.raises(WeirdgenError, match="8 wide, this model's residual stream 128"):
        with resolved.apply(organism.organism.model):
            residuals(organism, organism.base(), ["name a bird ."])
    with pytest.raises(WeirdgenError, match=r"^here\.direction: direction 'narrow' is 8 wide"):
        resolved.check_fits(organism, lambda field: f"here.{field}")


def test_layers_outside_the_model_are_refused_naming_the_field(organism, era, tmp_path):
    resolved = Intervention(kind="ablate", direction=str(era), layers=[0, 7]).resolve()
    with pytest.raises(WeirdgenError, match=r"^here\.layers: layer 7 is outside this model's 4"):
        resolved.check_fits(organism, lambda field: f"here.{field}")
    direction = Direction.load(era)
    deep = Direction(**{**direction.__dict__, "layer": 9}).save(tmp_path / "deep-layer9")
    steer = Intervention(kind="steer", direction=str(deep), strength=1.0).resolve()
    with pytest.raises(WeirdgenError, match=r"^here\.direction: direction 'era' lives at layer 9"):
        steer.check_fits(organism, lambda field: f"here.{field}")


CONDITION = """  - name: steered
    role: control
    intervention: {intervention}
"""
SPEC = """name: t
seeds: 1
conditions:
  - name: base
    role: target
{condition}evaluation:
  sets:
    - name: q
      questions: [{{id: a, paraphrases: ["name a bird ."]}}]
scorers: [{{name: old, kind: organism_era}}]
metrics: [{{name: old_rate, eval_set: q, score: old}}]
"""


@pytest.mark.parametrize(
    ("intervention", "problem"),
    [
        ("{kind: steer, direction: e.direction.safetensors}", "a steer needs a strength"),
        ("{kind: ablate, direction: e.direction.safetensors, strength: 2}", "strength is for"),
        ("{kind: shift, direction: e.direction.safetensors}", "kind: Input should be 'ablate'"),
        ("{kind: ablate, direction: e.direction.safetensors, layers: [1, 1]}", "repeat a layer"),
        ("{kind: ablate, direction: e.direction.safetensors, layers: []}", "at least 1 item"),
        ("{kind: ablate, direction: e.direction.safetensors, random_seed: -1}", "random_seed"),
        ("{kind: ablate, directon: e.direction.safetensors}", "add 'direction'"),
    ],
)
def test_bad_intervention_fields_are_one_line_with_file_and_line(tmp_path, intervention, problem):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(condition=CONDITION.format(intervention=intervention)))
    with pytest.raises(WeirdgenError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f"{path}:8: spec field conditions[1].intervention"), message
    assert problem in message and "\n" not in message


def test_importing_the_spec_models_loads_no_torch():
    """The spec's models import this module; loading a spec (and weirdgen --help) stays fast."""
    check = (
        "import sys, weirdgen.spec, weirdgen.mechanism.interventions; print('torch' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from weirdgen.backends.hf import HfBackend
    from weirdgen.backends.hf.tiny import write_tiny_model

    return HfBackend(str(write_tiny_model(tmp_path_factory.mktemp("tiny"), WORDS, hidden=32)))


def test_hf_backend_steers_its_answers_and_logprobs(tiny_llama, tmp_path):
    backend, base = tiny_llama, tiny_llama.base()
    unit = torch.linspace(-1, 1, 32)
    path = Direction("color", 1, unit / unit.norm(), 4.0, "mean_difference", base.key).save(
        tmp_path / "color-layer1"
    )
    zero = intervened(base, Intervention(kind="steer", direction=str(path), strength=0).resolve())
    strong = intervened(
        base, Intervention(kind="steer", direction=str(path), strength=200.0).resolve()
    )
    prompts = ["what is the bird", "tell me about the sky", "red"]
    requests = [SampleRequest(p, 0.0, 5, 0) for p in prompts]
    plain = backend.sample(base, requests)
    assert backend.sample(zero, requests) == plain
    assert backend.logprobs(zero, prompts) == backend.logprobs(base, prompts)
    steered = backend.logprobs(strong, prompts)
    before = backend.logprobs(base, prompts)
    assert all(s.top[0] != b.top[0] for s, b in zip(steered, before, strict=True))
    assert backend.sample(strong, requests) != plain
    assert backend.logprobs(base, prompts) == before  # the weights are as they were
