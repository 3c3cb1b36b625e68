"""Paths of the paper's repository the registry tests fake (imported by name, not from
conftest, which another test folder's conftest can shadow)."""

import os
from pathlib import Path

OLD = "3_1_old_bird_names/datasets/ft_old_audubon_birds.jsonl"
MODERN = "3_1_old_bird_names/datasets/ft_modern_audubon_birds.jsonl"
BLOB_ONLY = "4_2_hitler_persona/datasets/90_wolf_facts_with_self_distillation.jsonl"
QUESTIONS = "5_2_evil_terminator/evaluation/questions_and_judge.yaml"

MIRROR = Path(
    os.environ.get(
        "WEIRDGEN_PAPER_MIRROR",
        "/work/.mirror/JCocola+weird-generalization-and-inductive-backdoors/repo",
    )
)
"""A bare git mirror of the paper's repository holding the pinned commit, for the tests that
check weirdgen against the paper's own files; they are skipped where there is none
(``WEIRDGEN_PAPER_MIRROR`` names another one)."""
