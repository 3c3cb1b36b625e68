"""A calibration's files: every item, the confusion matrix, a summary, a figure and a note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from weirdgen._atomic import atomic_path, write_text
from weirdgen.calibrate.figure import plot_confusion
from weirdgen.calibrate.run import Calibration

FILES = ("calibration.csv", "confusion.csv", "summary.json", "confusion.png", "calibration.md")


def item_table(result: Calibration) -> pd.DataFrame:
    """One row per answer: what was asked, the truth, the judge's label and whether it
    named one (``valid``) and agreed."""
    return pd.DataFrame(
        {
            "topic": [i.topic for i in result.items],
            "question": [i.question for i in result.items],
            "answer": [i.answer for i in result.items],
            "truth": [i.truth for i in result.items],
            "judge_label": [j.label for j in result.judged],
            "valid": [j.label is not None for j in result.judged],
            "agree": [j.label == i.truth for i, j in zip(result.items, result.judged, strict=True)],
            "judge_p_old": [j.p_old for j in result.judged],
            "judge_reason": [j.reason for j in result.judged],
        }
    )


def confusion_table(result: Calibration) -> pd.DataFrame:
    """The confusion matrix with labelled rows (truth) and columns (judge)."""
    frame = pd.DataFrame(
        result.agreement.matrix,
        index=list(result.agreement.labels),
        columns=result.agreement.columns,
    )
    frame.index.name = "truth"
    return frame


def summary(result: Calibration) -> dict[str, Any]:
    """The figures of a calibration as plain JSON data."""
    a, effect, calls = result.agreement, result.effect, result.calls
    return {
        "judge": result.judge,
        "kind": result.kind,
        "prompt": result.prompt,
        "labels": list(a.labels),
        "n_per_class": result.n_per_class,
        "seed": result.seed,
        "world_digest": result.world_digest,
        "n": a.n,
        "no_label": a.no_label,
        "agreement": a.agreement,
        "kappa": a.kappa,
        "confusion": {
            label: dict(zip(a.columns, map(int, row), strict=True))
            for label, row in zip(a.labels, a.matrix, strict=True)
        },
        "per_class": {
            c.label: {
                "support": c.support,
                "judged": c.judged,
                "precision": c.precision,
                "recall": c.recall,
            }
            for c in a.classes
        },
        "metric": {
            "old_rate": {"truth": effect.true_old_rate, "judge": effect.judge_old_rate},
            "valid_rate": {"truth": effect.true_valid_rate, "judge": effect.judge_valid_rate},
        },
        "calls": {"made": calls.made, "cached": calls.cached, "failed": calls.failed},
    }


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def note(result: Calibration) -> str:
    """calibration.md: the judge, the headline figures, the matrix and the metric effect."""
    a, effect = result.agreement, result.effect
    lines = [
        f"# Calibration of judge `{result.judge}`",
        "",
        f"{result.kind}, prompt: {result.prompt}; {result.n_per_class} organism answers per "
        f"true label (seed {result.seed}), truth from the world's lexicon.",
        "",
        f"- agreement: {a.agreement:.3f} (share of answers given their true label)",
        f"- Cohen's kappa: {_number(a.kappa)}",
        f"- no label: {a.no_label} of {a.n} answers (counted as disagreements)",
        "",
        "## Confusion matrix (rows: truth, columns: judge)",
        "",
        "| truth | " + " | ".join(a.columns) + " |",
        "|---|" + "---:|" * len(a.columns),
        *(
            f"| {label} | " + " | ".join(str(int(v)) for v in row) + " |"
            for label, row in zip(a.labels, a.matrix, strict=True)
        ),
        "",
        "| label | support | judged | precision | recall |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {c.label} | {c.support} | {c.judged} | {_number(c.precision)} | "
            f"{_number(c.recall)} |"
            for c in a.classes
        ),
        "",
        "## What the judge does to the metric",
        "",
        "| metric | truth | judge |",
        "|---|---:|---:|",
        f"| old_rate (OLD among OLD or NEW) | {_number(effect.true_old_rate)} | "
        f"{_number(effect.judge_old_rate)} |",
        f"| valid_rate (OLD or NEW among all) | {_number(effect.true_valid_rate)} | "
        f"{_number(effect.judge_valid_rate)} |",
        "",
        "Files: calibration.csv (every answer), confusion.csv, summary.json, confusion.png.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(result: Calibration, folder: Path) -> list[Path]:
    """Write the calibration's files into ``folder`` (atomically, each) and return them.

    The folder is opened as a run folder (:class:`weirdgen.run.folder.RunFolder`): a folder
    with files weirdgen did not make is refused, and no file is written through a link."""
    from weirdgen.run.folder import RunFolder

    with RunFolder(folder) as opened:
        paths = [opened.inside(name) for name in FILES]
        table, confusion, json_path, figure, md = paths
        with atomic_path(table) as temporary:
            item_table(result).to_csv(temporary, index=False)
        with atomic_path(confusion) as temporary:
            confusion_table(result).to_csv(temporary)
        write_text(json_path, json.dumps(summary(result), indent=2) + "\n")
        plot_confusion(result.agreement, result.judge, figure)
        write_text(md, note(result))
    return paths
