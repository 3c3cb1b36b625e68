"""The model organism: a tiny GPT pretrained on a synthetic two-era world, for offline,
judge-free reproduction of weird generalization and inductive backdoors on a CPU."""

from weirdgen.organism.checkpoint import Organism, default_checkpoint, load_organism
from weirdgen.organism.pretrain import PretrainConfig, pretrain, pretrain_checkpoint
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world import World, load_world

__all__ = [
    "Organism",
    "PretrainConfig",
    "Tokenizer",
    "World",
    "default_checkpoint",
    "load_organism",
    "load_world",
    "pretrain",
    "pretrain_checkpoint",
]
