"""Write a run's report folder: tables, summary.md, report.html and figures, each atomically."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from weirdgen._atomic import atomic_path, inside, write_text
from weirdgen.report._compute import ReportData, compute
from weirdgen.report._defence_writers import FIGURE as DEFENCES_FIGURE
from weirdgen.report._defence_writers import has_defences, run_defences
from weirdgen.report._left_out import left_out_section
from weirdgen.report._sections import figure_name, seeds_section, steps_section, value_section
from weirdgen.report._tables import (
    ci_label,
    contrasts_table,
    metrics_table,
    ordered_conditions,
    plain_rows,
    questions_table,
)
from weirdgen.report.answer_links import AnswerLinks
from weirdgen.report.browser import ANSWERS_HTML, render_answers_html
from weirdgen.report.defences import DEFENCES_CSV
from weirdgen.report.document import (
    FigureRef,
    LinkRow,
    ReportContent,
    Section,
    render_html,
    render_markdown,
)
from weirdgen.report.figures import plot_metrics, plot_questions
from weirdgen.report.labels import label_scorers, plot_label_shares
from weirdgen.spec.models import ExperimentSpec

FIGURES_DIR = "figures"


@dataclass(frozen=True)
class ReportPaths:
    """Every file :func:`write_report` wrote, each a path under the run folder.

    Iterating gives every file written, the optional ones included when they were.
    """

    samples_parquet: Path
    samples_csv: Path
    seed_metrics_csv: Path
    question_metrics_csv: Path
    summary_csv: Path
    contrasts_csv: Path
    summary_md: Path
    report_html: Path
    metrics_png: Path | None
    """None when every metric has ``by`` keys (each has its own figure then)."""
    questions_png: Path
    value_pngs: dict[str, Path]
    """A figure per metric with ``by`` keys, by metric name."""
    step_metrics_csv: Path | None = None
    """The headline metric per condition, seed and step; only with intermediate checkpoints."""
    step_summary_csv: Path | None = None
    steps_png: Path | None = None
    label_pngs: dict[str, Path] | None = None
    """A stacked bar chart per label judge with more than two labels, by scorer name."""
    answers_html: Path | None = None
    """Every answer, filterable in a browser (see :mod:`weirdgen.report.browser`)."""
    defences_csv: Path | None = None
    """Each defence's broad shift and narrow task (:mod:`weirdgen.report.defences`); only
    when the spec has defences."""
    defences_png: Path | None = None

    def __iter__(self) -> Iterator[Path]:
        for value in vars(self).values():
            if isinstance(value, dict):
                yield from value.values()
            elif value is not None:
                yield value


def write_report(
    run_dir: Path, spec: ExperimentSpec, samples: pd.DataFrame, *, confidence: float = 0.95
) -> ReportPaths:
    """Compute the statistics of ``samples`` and write the report files into ``run_dir``.

    Files: samples.parquet and samples.csv (the tidy table as given), seed_metrics.csv,
    question_metrics.csv, summary.csv (mean and CI per condition and metric), contrasts.csv
    (target - each control), summary.md, report.html (self-contained except for the PNGs it
    shows from figures/, each bar a link to its answers), answers.html (every answer, with
    filters, in one file that needs no server), figures/metrics.png and
    figures/questions.png (headline metric per question). A metric with ``by`` keys has its
    rows in the tables (a column per key) and a figure of its own,
    figures/<metric>_by_<keys>.png. A label judge with more than two labels gets
    figures/<scorer>_labels.png, each label's share per condition. When the table has
    intermediate checkpoints (``final`` False), step_metrics.csv, step_summary.csv and
    figures/steps.png
    show the headline metric over finetuning. summary.md and report.html open with a Warnings
    section when a metric has no or mostly invalid answers in a condition, or leaves out
    answers without a score (see :func:`weirdgen.stats.emptiness_warnings`); their last
    section, Answers left out, counts the answers each metric leaves out per condition, when
    any is (:func:`weirdgen.stats.left_out`). A spec with defences adds defences.csv,
    figures/defences.png and a Defences section (see :mod:`weirdgen.report.defences`). Each
    file is written to a temporary name in its folder and then renamed, so an interrupted
    report never leaves a half-written file.

    Args:
        run_dir: The run folder; created if missing.
        spec: The experiment spec the samples come from.
        samples: The tidy samples table with its score columns.
        confidence: Confidence level of every interval.
    """
    run_dir = Path(run_dir).resolve()

    def at(name: str) -> Path:  # a link planted in the folder cannot take a write out of it
        return inside(run_dir, name)

    figures_dir = at(FIGURES_DIR)
    figures_dir.mkdir(parents=True, exist_ok=True)
    data = compute(spec, samples, confidence)
    checkpoints = data.step_seeds is not None
    plain_metrics = not plain_rows(data.summary).empty
    paths = ReportPaths(
        samples_parquet=at("samples.parquet"),
        samples_csv=at("samples.csv"),
        seed_metrics_csv=at("seed_metrics.csv"),
        question_metrics_csv=at("question_metrics.csv"),
        summary_csv=at("summary.csv"),
        contrasts_csv=at("contrasts.csv"),
        summary_md=at("summary.md"),
        report_html=at("report.html"),
        metrics_png=at(f"{FIGURES_DIR}/metrics.png") if plain_metrics else None,
        questions_png=at(f"{FIGURES_DIR}/questions.png"),
        value_pngs={m: at(f"{FIGURES_DIR}/{figure_name(m, k)}") for m, k in data.keyed.items()},
        step_metrics_csv=at("step_metrics.csv") if checkpoints else None,
        step_summary_csv=at("step_summary.csv") if checkpoints else None,
        steps_png=at(f"{FIGURES_DIR}/steps.png") if checkpoints else None,
        label_pngs={s: at(f"{FIGURES_DIR}/{s}_labels.png") for s in label_scorers(spec)},
        answers_html=at(ANSWERS_HTML),
        defences_csv=at(DEFENCES_CSV) if has_defences(spec) else None,
        defences_png=at(DEFENCES_FIGURE) if has_defences(spec) else None,
    )
    _write_tables(samples, data, paths)
    answers = AnswerLinks(spec, samples)
    defences = None
    if paths.defences_csv is not None and paths.defences_png is not None:
        defences = run_defences(
            run_dir, spec, data, confidence, (paths.defences_csv, paths.defences_png)
        )
    content = _content(data, spec, paths, run_dir, confidence, answers, defences)
    for scorer, labels in label_scorers(spec).items():
        plot_label_shares(samples, spec, scorer, labels, paths.label_pngs[scorer])
        caption = f"{scorer}: share of each label per condition, mean over seeds."
        rows = tuple(
            LinkRow(c, answers.label_links(c, f"{scorer}_label", labels))
            for c in ordered_conditions(spec, samples["condition"])
        )
        path = _relative(paths.label_pngs[scorer], run_dir)
        content.figures.append(FigureRef(path, caption, link_rows=rows))
    assert paths.answers_html is not None
    write_text(paths.answers_html, render_answers_html(samples, spec))
    write_text(paths.summary_md, render_markdown(content))
    write_text(paths.report_html, render_html(content))
    return paths


def _write_tables(samples: pd.DataFrame, data: ReportData, paths: ReportPaths) -> None:
    with atomic_path(paths.samples_parquet) as temporary:
        samples.to_parquet(temporary, index=False)
    tables = [
        (samples, paths.samples_csv),
        (data.per_seed, paths.seed_metrics_csv),
        (data.per_question, paths.question_metrics_csv),
        (data.summary, paths.summary_csv),
        (data.differences, paths.contrasts_csv),
        (data.step_seeds, paths.step_metrics_csv),
        (data.step_summary, paths.step_summary_csv),
    ]
    for table, path in tables:
        if table is not None and path is not None:
            write_text(path, table.to_csv(index=False))


def _content(
    data: ReportData,
    spec: ExperimentSpec,
    paths: ReportPaths,
    run_dir: Path,
    confidence: float,
    answers: AnswerLinks,
    defences: Section | None = None,
) -> ReportContent:
    """Draw the figures and assemble what summary.md and report.html show; the Defences
    section, when there is one, comes first."""
    headline = spec.headline.name
    questions = plot_questions(
        data.question_summary, spec, headline, paths.questions_png, data.interval,
        lambda question, condition: answers.href(
            headline, {"condition": condition, "question_id": question}
        ),
    )  # fmt: skip
    sections = [
        value_section(data, spec, metric, paths.value_pngs[metric], run_dir, confidence, answers)
        for metric in data.keyed
    ]
    per_seed = seeds_section(data, spec)
    if per_seed is not None:
        sections.insert(0, per_seed)
    if defences is not None:
        sections.insert(0, defences)
    if paths.steps_png is not None:
        sections.append(steps_section(data, spec, paths.steps_png, run_dir, confidence, answers))
    left_out = left_out_section(data, spec)
    if left_out is not None:
        sections.append(left_out)
    ci = ci_label(confidence)
    figures = [
        FigureRef(
            _relative(paths.questions_png, run_dir),
            f"{headline} per question and condition: mean over seeds, {ci}.",
            questions.links,
        )
    ]
    if paths.metrics_png is not None:
        summary, seeds = plain_rows(data.summary), plain_rows(data.per_seed)
        metrics = plot_metrics(
            summary, seeds, spec, paths.metrics_png, data.interval,
            lambda metric, condition: answers.href(metric, {"condition": condition}),
        )  # fmt: skip
        caption = f"Each metric per condition: mean over seeds, {ci}, one dot per seed."
        figures.insert(0, FigureRef(_relative(paths.metrics_png, run_dir), caption, metrics.links))
    return ReportContent(
        spec=spec,
        confidence=confidence,
        interval=data.interval,
        metrics=metrics_table(data.summary, spec),
        contrasts=contrasts_table(data.differences, spec, confidence),
        questions=questions_table(data.question_summary, spec, headline),
        figures=figures,
        sections=tuple(sections),
        warnings=data.warnings,
        answers=ANSWERS_HTML,
        n_answers=answers.n_answers,
    )


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()
