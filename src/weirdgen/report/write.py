"""Write a run's report folder: tables, summary.md, report.html and figures, each atomically."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from weirdgen._atomic import atomic_path, write_text
from weirdgen.report._tables import (
    ci_label,
    contrasts_table,
    metrics_table,
    questions_table,
)
from weirdgen.report.document import FigureRef, ReportContent, render_html, render_markdown
from weirdgen.report.figures import plot_metrics, plot_questions
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import contrasts, question_metrics, seed_metrics, summarize

FIGURES_DIR = "figures"


class ReportPaths(NamedTuple):
    """Every file :func:`write_report` wrote, each a path under the run folder."""

    samples_parquet: Path
    samples_csv: Path
    seed_metrics_csv: Path
    question_metrics_csv: Path
    summary_csv: Path
    contrasts_csv: Path
    summary_md: Path
    report_html: Path
    metrics_png: Path
    questions_png: Path


def write_report(
    run_dir: Path,
    spec: ExperimentSpec,
    samples: pd.DataFrame,
    *,
    confidence: float = 0.95,
) -> ReportPaths:
    """Compute the statistics of ``samples`` and write the report files into ``run_dir``.

    Files: samples.parquet and samples.csv (the tidy table as given), seed_metrics.csv,
    question_metrics.csv, summary.csv (mean and CI per condition and metric), contrasts.csv
    (target - each control), summary.md, report.html (self-contained except for the PNGs it
    shows from figures/), figures/metrics.png and figures/questions.png (headline metric per
    question). Each file is written to a temporary name in its folder and then renamed, so
    an interrupted report never leaves a half-written file.

    Args:
        run_dir: The run folder; created if missing.
        spec: The experiment spec the samples come from.
        samples: The tidy samples table with its score columns.
        confidence: Confidence level of every interval.
    """
    run_dir = Path(run_dir)
    figures_dir = run_dir / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)

    per_seed = seed_metrics(samples, spec.metrics)
    per_question = question_metrics(samples, spec.metrics)
    summary = summarize(per_seed, confidence=confidence)
    headline = spec.headline.name
    question_summary = summarize(
        per_question.loc[per_question["metric"] == headline],
        by=("question_id",),
        confidence=confidence,
    )
    differences = contrasts(
        per_seed, spec.target.name, [c.name for c in spec.controls], confidence=confidence
    )

    paths = ReportPaths(
        samples_parquet=run_dir / "samples.parquet",
        samples_csv=run_dir / "samples.csv",
        seed_metrics_csv=run_dir / "seed_metrics.csv",
        question_metrics_csv=run_dir / "question_metrics.csv",
        summary_csv=run_dir / "summary.csv",
        contrasts_csv=run_dir / "contrasts.csv",
        summary_md=run_dir / "summary.md",
        report_html=run_dir / "report.html",
        metrics_png=figures_dir / "metrics.png",
        questions_png=figures_dir / "questions.png",
    )
    with atomic_path(paths.samples_parquet) as temporary:
        samples.to_parquet(temporary, index=False)
    for table, path in [
        (samples, paths.samples_csv),
        (per_seed, paths.seed_metrics_csv),
        (per_question, paths.question_metrics_csv),
        (summary, paths.summary_csv),
        (differences, paths.contrasts_csv),
    ]:
        write_text(path, table.to_csv(index=False))

    plot_metrics(summary, per_seed, spec, paths.metrics_png, confidence)
    plot_questions(question_summary, spec, headline, paths.questions_png, confidence)
    ci = ci_label(confidence)
    content = ReportContent(
        spec=spec,
        confidence=confidence,
        metrics=metrics_table(summary, spec),
        contrasts=contrasts_table(differences, spec, confidence),
        questions=questions_table(question_summary, spec, headline),
        figures=[
            FigureRef(
                _relative(paths.metrics_png, run_dir),
                f"Each metric per condition: mean over seeds, {ci}, one dot per seed.",
            ),
            FigureRef(
                _relative(paths.questions_png, run_dir),
                f"{headline} per question and condition: mean over seeds, {ci}.",
            ),
        ],
    )
    write_text(paths.summary_md, render_markdown(content))
    write_text(paths.report_html, render_html(content))
    return paths


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()
