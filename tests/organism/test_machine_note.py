"""`weirdgen organism pretrain` says whether this machine can reproduce the shipped
checkpoint bit for bit, from the machine both manifests record."""

from __future__ import annotations

from weirdgen.cli.organism import _print_machines
from weirdgen.organism.pretrain import machine


def test_the_same_machine_kind_expects_the_same_figures(capsys):
    here = machine()
    _print_machines(dict(here), here)
    assert "same machine kind" in capsys.readouterr().out


def test_another_machine_names_what_differs_and_what_carries_over(capsys):
    here = machine()
    there = {**here, "cpu": "Intel(R) Xeon(R) Platinum 8375C", "capability": "AVX512"}
    _print_machines(there, here)
    out = " ".join(capsys.readouterr().out.split())
    assert "cpu Intel(R) Xeon(R) Platinum 8375C there" in out and "capability AVX512" in out
    assert "threads" not in out and "torch" not in out  # only what differs is named
    assert "pooled over pretraining seeds" in out


def test_a_checkpoint_without_a_machine_record_says_so(capsys):
    _print_machines(None, machine())
    assert "does not record its machine" in capsys.readouterr().out
