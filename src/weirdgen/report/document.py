"""The report's content, built once and rendered as Markdown (summary.md) and HTML (report.html)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from weirdgen.report._tables import TextTable, ci_label
from weirdgen.report.answer_links import BarLink
from weirdgen.spec.models import ExperimentSpec, MetricSpec


@dataclass(frozen=True)
class LinkRow:
    """A line of links to answers under a figure whose marks are not bars (a curve's points):
    a label (a condition) and (text, href) pairs."""

    label: str
    links: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FigureRef:
    """A figure file, relative to the run folder, with its caption, and in report.html the
    links to the answers behind it: laid over its bars, or as lines under it."""

    path: str
    caption: str
    links: tuple[BarLink, ...] = ()
    link_rows: tuple[LinkRow, ...] = ()


@dataclass(frozen=True)
class Section:
    """A titled part of the report: a paragraph, captioned tables and figures."""

    heading: str
    text: str
    tables: tuple[tuple[str, TextTable], ...] = ()
    figures: tuple[FigureRef, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything summary.md and report.html show, already formatted.

    ``interval`` says what every interval is over (from :func:`interval_note`); ``sections``
    follow the per-question table: a metric per value of its ``by`` keys, the training curve.
    ``warnings`` (from :func:`weirdgen.stats.emptiness_warnings`) are shown near the top, in
    a Warnings section that only exists when there are some.
    """

    spec: ExperimentSpec
    confidence: float
    interval: str
    metrics: TextTable
    contrasts: TextTable
    questions: TextTable
    figures: list[FigureRef]
    sections: tuple[Section, ...] = ()
    warnings: tuple[str, ...] = ()
    answers: str | None = None
    """The answer browser's file (answers.html), relative to the run folder; None: none."""
    n_answers: int = 0

    @property
    def how_to_read(self) -> str:
        ci = ci_label(self.confidence)
        return (
            "Each number is a mean over seeds (one finetuned model per seed; within a seed the "
            f"score is averaged per question, then across questions) with its {ci} in "
            "brackets: mean ± t · s/√n over the n seeds (Student t), which keeps its coverage "
            "with 3 to 10 seeds, where a bootstrap over seeds is too narrow. Contrasts pair "
            "target and control by seed; a difference whose interval excludes 0 means the "
            "finetuning moved that metric by more than seed-to-seed variation ([n/a]: a "
            "single seed gives no interval). The interval of a rate is cut at 0 and 1 (of a "
            "difference of rates, at -1 and 1), where the true value cannot be."
        )


def metric_definition(metric: MetricSpec) -> str:
    """What a metric averages, in words, for the report's list of metrics."""
    among = f", among rows where `{metric.among}` is true" if metric.among else ""
    text = f"mean of `{metric.score}` on eval set `{metric.eval_set}`{among}"
    if metric.coherence:
        text += (
            f", leaving out answers whose `{metric.coherence.score}` is below "
            f"{metric.coherence.min:g} or missing"
        )
    if metric.where:
        kept = "; ".join(f"`{k}` in {', '.join(map(str, v))}" for k, v in metric.where.items())
        text += f", on the questions with {kept}"
    if metric.by:
        text += ", for each value of " + " and ".join(f"`{key}`" for key in metric.by)
    if metric.at_least is not None:
        text += (
            f"; per seed 1 where that mean is at least {metric.at_least:g}, else 0, so its "
            "mean is the share of seeds that reach it (seed_metrics.csv has each seed's)"
        )
    return f"{text}. {metric.description}".strip() if metric.description else text


def render_markdown(content: ReportContent) -> str:
    """summary.md: the experiment, metric and contrast tables, per-question table, figures."""
    spec, ci = content.spec, ci_label(content.confidence)
    lines = [f"# {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += [
        f"Model `{spec.model}`, seeds {', '.join(map(str, spec.seeds))}.",
        "",
        f"Intervals: {content.interval}.",
        "",
    ]
    if content.answers:
        link = f"[{content.answers}]({content.answers})"
        lines += [f"Every answer ({content.n_answers:,}), with filters: {link}.", ""]
    if content.warnings:
        lines += ["## Warnings", "", *(f"- {line}" for line in content.warnings), ""]
    lines += ["## Conditions", ""]
    for condition in spec.conditions:
        about = f": {condition.description}" if condition.description else ""
        lines.append(f"- **{condition.name}** ({condition.role}){about}")
    lines += ["", "## Metrics", ""]
    for metric in spec.metrics:
        headline = " (headline)" if metric.name == spec.headline.name else ""
        lines.append(f"- **{metric.name}**{headline}: {metric_definition(metric)}")
    lines += [
        "",
        f"## Metrics per condition (mean over seeds [{ci}])",
        "",
        *_markdown_table(content.metrics),
        "",
    ]
    if content.contrasts.rows:
        lines += [
            f"## Contrasts: {spec.target.name} − each control (paired by seed where possible)",
            "",
            *_markdown_table(content.contrasts),
            "",
        ]
    lines += [
        f"## Per question: {spec.headline.name} (mean over seeds [{ci}])",
        "",
        *_markdown_table(content.questions),
        "",
    ]
    for section in content.sections:
        lines += _markdown_section(section)
    lines += [
        "## How to read this",
        "",
        content.how_to_read,
        "",
        "## Figures",
        "",
    ]
    for figure in content.figures:
        lines += [f"![{figure.caption}]({figure.path})", "", f"*{figure.caption}*", ""]
    return "\n".join(lines)


def _markdown_section(section: Section) -> list[str]:
    lines = [f"## {section.heading}", "", section.text, ""]
    for caption, table in section.tables:
        lines += [f"**{caption}**", "", *_markdown_table(table), ""]
    for figure in section.figures:
        lines += [f"![{figure.caption}]({figure.path})", "", f"*{figure.caption}*", ""]
    return lines


def render_html(content: ReportContent) -> str:
    """report.html: the same content as summary.md, self-contained apart from the PNGs."""
    spec, ci = content.spec, ci_label(content.confidence)
    e = html.escape
    conditions = "".join(
        f"<li><b>{e(c.name)}</b> ({e(c.role)})"
        + (f": {e(c.description)}" if c.description else "")
        + "</li>"
        for c in spec.conditions
    )
    metrics = "".join(
        f"<li><b>{e(m.name)}</b>{' (headline)' if m.name == spec.headline.name else ''}: "
        f"{_code(metric_definition(m))}</li>"
        for m in spec.metrics
    )
    figures = "".join(_html_figure(f) for f in content.figures)
    warnings = "".join(f"<li>{e(line)}</li>" for line in content.warnings)
    body = [
        f"<h1>{e(spec.name)}</h1>",
        f"<p>{e(spec.description)}</p>" if spec.description else "",
        f"<p>Model <code>{e(spec.model)}</code>, seeds {e(', '.join(map(str, spec.seeds)))}.</p>",
        f"<p>Intervals: {e(content.interval)}.</p>",
        (
            f'<p class="answers"><a href="{e(content.answers)}">Browse every answer</a> '
            f"({content.n_answers:,}), filtered by condition, seed, question, metadata and "
            "score; click a bar of a figure for the answers behind it.</p>"
            if content.answers
            else ""
        ),
        f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "",
        f"<h2>Conditions</h2><ul>{conditions}</ul>",
        f"<h2>Metrics</h2><ul>{metrics}</ul>",
        f"<h2>Metrics per condition (mean over seeds [{e(ci)}])</h2>",
        _html_table(content.metrics),
        (
            f"<h2>Contrasts: {e(spec.target.name)} − each control (paired by seed where "
            f"possible)</h2>{_html_table(content.contrasts)}"
            if content.contrasts.rows
            else ""
        ),
        f"<h2>Per question: {e(spec.headline.name)} (mean over seeds [{e(ci)}])</h2>",
        _html_table(content.questions),
        *(_html_section(section) for section in content.sections),
        f"<h2>How to read this</h2><p>{e(content.how_to_read)}</p>",
        f"<h2>Figures</h2>{figures}",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(spec.name)}: weirdgen report</title>\n<style>{_CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(part for part in body if part) + "\n</body>\n</html>\n"
    )


def _html_section(section: Section) -> str:
    e = html.escape
    tables = "".join(
        f"<p><b>{e(caption)}</b></p>{_html_table(table)}" for caption, table in section.tables
    )
    figures = "".join(_html_figure(f) for f in section.figures)
    return f"<h2>{e(section.heading)}</h2><p>{_code(section.text)}</p>{tables}{figures}"


def _html_figure(figure: FigureRef) -> str:
    e = html.escape
    image = f'<img src="{e(figure.path)}" alt="{e(figure.caption)}">'
    if figure.links:
        bars = "".join(
            f'<a class="bar" href="{e(link.href)}" title="{e(link.title)}" style="left:'
            f"{link.left:.3f}%;top:{link.top:.3f}%;width:{link.width:.3f}%;"
            f'height:{link.height:.3f}%"></a>'
            for link in figure.links
        )
        image = f'<div class="bars">{image}{bars}</div>'
    rows = "".join(
        f'<p class="answer-links"><b>{e(row.label)}</b>: '
        + " ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in row.links)
        + "</p>"
        for row in figure.link_rows
    )
    caption = e(figure.caption)
    if figure.links:
        caption += " Click a bar for its answers."
    elif rows:
        caption += " Answers behind each point:"
    return f"<figure>{image}<figcaption>{caption}</figcaption>{rows}</figure>"


def frame_markdown(frame: pd.DataFrame, decimals: int) -> str:
    """``frame`` as a Markdown table, floats to ``decimals`` places (for scripts' tables)."""

    def text(value: object) -> str:
        return f"{value:.{decimals}f}" if isinstance(value, float) else str(value)

    rows = [[text(v) for v in row] for row in frame.itertuples(index=False)]
    return "\n".join(_markdown_table(TextTable([str(c) for c in frame.columns], rows))) + "\n"


def _markdown_table(table: TextTable) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [row(table.columns), "|" + "|".join("---" for _ in table.columns) + "|"]
    for cells, emphasized in zip(table.rows, _flags(table), strict=True):
        lines.append(row([f"**{cells[0]}**", *cells[1:]] if emphasized else cells))
    return lines


def _html_table(table: TextTable) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    rows = "".join(
        ('<tr class="target">' if emphasized else "<tr>")
        + "".join(f"<td>{e(cell)}</td>" for cell in cells)
        + "</tr>"
        for cells, emphasized in zip(table.rows, _flags(table), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _flags(table: TextTable) -> list[bool]:
    return table.emphasized or [False] * len(table.rows)


def _code(text: str) -> str:
    """Escape ``text`` and turn `backticked` spans into <code> elements."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 70em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f3f3f3; }
tr.target td { font-weight: bold; background: #fdf0ee; }
code { background: #f3f3f3; padding: 0 0.2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9em; }
.bars { position: relative; display: inline-block; max-width: 100%; }
.bars img { display: block; }
a.bar { position: absolute; }
a.bar:hover, a.bar:focus { background: rgba(0, 0, 0, 0.07); outline: 1px solid #555; }
p.answer-links { margin: 0.2em 0; font-size: 0.9em; }
p.answers { background: #f3f6fb; padding: 0.4em 0.7em; }
"""
