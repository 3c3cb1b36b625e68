"""One calibration: build the set, have the judge label it, compare with the truth."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weirdgen.calibrate.agreement import Agreement, MetricEffect, agreement, metric_effect
from weirdgen.calibrate.items import LABELS, CalibrationItem, calibration_set
from weirdgen.calibrate.judging import Judged, JudgeKind, calls, judge_items, judge_scorer
from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import load_world
from weirdgen.score import JudgeCalls, ScoringContext


@dataclass(frozen=True)
class Calibration:
    """A judge's labels of a calibration set, and how they compare with the truth."""

    judge: str
    kind: JudgeKind
    prompt: str
    """Where the prompt came from: 'default', or 'FILE#ID'."""
    n_per_class: int
    seed: int
    world_digest: str
    items: list[CalibrationItem]
    judged: list[Judged]
    agreement: Agreement
    effect: MetricEffect
    calls: JudgeCalls


def calibrate(
    judge: str,
    n: int = 50,
    seed: int = 0,
    kind: JudgeKind = "label_judge",
    prompt_file: Path | None = None,
    prompt_id: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache: object = None,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> Calibration:
    """Have ``judge`` label ``n`` old-era, new-era and off-topic organism answers each and
    compare its labels with the world lexicon's.

    Args:
        cache: The judge cache (``JudgmentCache()``), or None to ask for every answer.
        progress: Called as ``progress(total)`` before judging; returns the function told
            how many more answers were judged after each batch.
    """
    world = load_world()
    items = calibration_set(n, seed, world)
    scorer = judge_scorer(judge, kind, prompt_file, prompt_id, base_url, api_key_env)
    context = ScoringContext(cache=cache)
    advance = progress(len(items)) if progress is not None else None
    judged = judge_items(scorer, items, context, advance)
    truth = [item.truth for item in items]
    labels = [j.label for j in judged]
    return Calibration(
        judge,
        kind,
        "default" if prompt_file is None else f"{prompt_file}#{prompt_id}",
        n,
        seed,
        world.digest,
        items,
        judged,
        agreement(truth, labels, LABELS),
        metric_effect(truth, labels),
        calls(context),
    )


def judge_slug(judge: str) -> str:
    """``judge`` as one file name: runs of other characters than letters, digits, '_', '-'
    and '.' become '-', with no leading or trailing '-' or '.' (so never '..')."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", judge).strip("-.")
    if not slug:
        raise WeirdgenError(
            f"--judge {judge!r} makes no folder name; give --out DIR, or a judge such as "
            "openai/gpt-4.1-mini"
        )
    return slug


def out_folder(judge: str, out: Path | None) -> Path:
    """Where the calibration's files go: ``out``, or runs/calibrate-<judge slug>; checked
    before any judging to be a folder weirdgen may write (new, empty, or one it made: see
    :mod:`weirdgen.run.folder`)."""
    from weirdgen.run.folder import check_run_folder

    folder = out if out is not None else Path("runs") / f"calibrate-{judge_slug(judge)}"
    check_run_folder(folder, "--out")
    return folder
