"""Paths of the paper's repository the registry tests fake (imported by name, not from
conftest, which another test folder's conftest can shadow)."""

OLD = "3_1_old_bird_names/datasets/ft_old_audubon_birds.jsonl"
MODERN = "3_1_old_bird_names/datasets/ft_modern_audubon_birds.jsonl"
BLOB_ONLY = "4_2_hitler_persona/datasets/90_wolf_facts_with_self_distillation.jsonl"
QUESTIONS = "5_2_evil_terminator/evaluation/questions_and_judge.yaml"
