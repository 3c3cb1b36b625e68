"""Finetuning the organism: a stop callback ends training at the next step, and a loss that
is not finite is an error naming the step, never a NaN model."""

from __future__ import annotations

import math

import pytest
import torch

from weirdgen.backends.organism import OrganismBackend
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.data.generators import generate
from weirdgen.errors import WeirdgenError
from weirdgen.organism import finetune as finetune_module
from weirdgen.organism.finetune import FinetuneStopped, finetune
from weirdgen.spec.models import OrganismRecipe


@pytest.fixture(scope="module")
def backend() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture(scope="module")
def birds():
    examples = [ChatExample.model_validate(r) for r in generate("birds_old", 32)]
    return dataset_from_examples(examples, source="birds_old")


def tokens(backend: OrganismBackend, dataset):
    tok = backend.organism.tokenizer
    return [tok.chat([(m.role, m.content) for m in e.messages]) for e in dataset.examples]


def test_a_stop_callback_ends_training_at_the_next_step(backend, birds):
    checks = []

    def stop() -> bool:
        checks.append(1)
        return len(checks) > 3  # three steps train, the fourth check stops

    recipe = OrganismRecipe(epochs=50, batch_size=4)  # 400 steps if nothing stopped it
    with pytest.raises(FinetuneStopped, match="step 4 of 400"):
        finetune(backend.organism.model, tokens(backend, birds), recipe, 0, 0, stop)
    assert len(checks) == 4


def test_a_stop_that_never_fires_changes_nothing(backend, birds):
    recipe = OrganismRecipe(epochs=1, batch_size=8)
    examples, pad = tokens(backend, birds), backend.organism.tokenizer.pad_id
    plain, plain_losses = finetune(backend.organism.model, examples, recipe, 1, pad)
    watched, losses = finetune(backend.organism.model, examples, recipe, 1, pad, lambda: False)
    assert losses == plain_losses and len(losses) == 4
    pairs = zip(plain.parameters(), watched.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_the_backend_passes_stop_on_and_saves_nothing_when_stopped(backend, birds, tmp_path):
    recipe = OrganismRecipe(epochs=50, batch_size=4)
    with pytest.raises(FinetuneStopped):
        backend.train(birds, recipe, 0, tmp_path, stop=lambda: True)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_loss_that_is_not_finite_is_an_error_naming_the_step(
    backend, birds, tmp_path, monkeypatch, bad
):
    # The third batch's loss is made non-finite here, not hoped for from a huge learning
    # rate: whether and when training diverges depends on the CPU's arithmetic.
    real, losses = finetune_module._loss, []

    def loss(model, ids, targets):
        losses.append(real(model, ids, targets))
        return losses[-1] + bad if len(losses) == 3 else losses[-1]

    monkeypatch.setattr(finetune_module, "_loss", loss)
    recipe = OrganismRecipe(epochs=3, batch_size=4, save_steps=2)  # a checkpoint at step 2
    with pytest.raises(WeirdgenError) as caught:
        backend.train(birds, recipe, 0, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"finetuning loss became {bad} at step 3 of 24 (lr ")
    assert message.endswith("lower the learning rate")
    assert len(losses) == 3  # training stopped at the bad step
    assert not list(tmp_path.iterdir())  # no weights written, not even the step-2 checkpoint


def test_weights_that_are_not_finite_after_the_last_step_are_an_error(
    backend, birds, tmp_path, monkeypatch
):
    # The last step's gradient is made nan while its loss stays finite, so only the check of
    # the weights after training can catch it.
    real, losses = finetune_module._loss, []

    def loss(model, ids, targets):
        losses.append(real(model, ids, targets))
        if len(losses) == 24:
            losses[-1].register_hook(lambda grad: grad * math.nan)
        return losses[-1]

    monkeypatch.setattr(finetune_module, "_loss", loss)
    with pytest.raises(WeirdgenError) as caught:
        backend.train(birds, OrganismRecipe(epochs=3, batch_size=4), 0, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("finetuning left non-finite weights after step 24 of 24 (lr ")
    assert message.endswith("lower the learning rate")
    assert not list(tmp_path.iterdir())
