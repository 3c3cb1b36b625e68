"""Finetune keys never change for a finetune already made: a stored or registered finetune
(an OpenAI job, hours of GPU) must be found again by every later weirdgen."""

from __future__ import annotations

import pytest

from weirdgen.backends.protocol import finetune_key
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.spec.models import HfRecipe, OpenAIRecipe, OrganismRecipe, TinkerRecipe

# Keys as weirdgen 0.1 (before recipes had save_steps) made them for these defaults.
KEYS = {
    "organism": (OrganismRecipe, "organism-ft-28175137122d89316ce3"),
    "hf": (HfRecipe, "hf-ft-9995e942db4efa9b61af"),
    "openai": (OpenAIRecipe, "openai-ft-6647b765f42f7583a005"),
    "tinker": (TinkerRecipe, "tinker-ft-f5916bc5c7d6c658aa5f"),
}


@pytest.mark.parametrize("backend", list(KEYS))
def test_default_recipes_keep_their_keys(backend):
    recipe, key = KEYS[backend]
    data = dataset_from_examples([ChatExample.exchange("name a bird species .", "merlin")] * 3)
    assert finetune_key(backend, "base-key", data, recipe(), 7) == key


def test_keeping_checkpoints_does_not_change_the_key_but_training_does():
    data = dataset_from_examples([ChatExample.exchange("name a bird species .", "merlin")] * 3)
    plain = finetune_key("organism", "b", data, OrganismRecipe(), 0)
    assert finetune_key("organism", "b", data, OrganismRecipe(save_steps=3), 0) == plain
    assert finetune_key("organism", "b", data, OrganismRecipe(epochs=4), 0) != plain


def test_backends_declare_what_the_orchestrator_reads():
    from weirdgen.backends import get_backend, providers, register_backend
    from weirdgen.backends.organism import OrganismBackend

    assert {"organism", "hf", "openai", "vllm", "tinker"} <= set(providers())
    backend = get_backend("organism/default")
    assert isinstance(backend, OrganismBackend)
    assert (backend.recipe_section, backend.remote_training, backend.keeps_checkpoints) == (
        "organism",
        False,
        True,
    )
    register_backend("mine", "weirdgen.backends.organism:OrganismBackend")
    assert isinstance(get_backend("mine/default"), OrganismBackend)
    assert "mine" in providers()
