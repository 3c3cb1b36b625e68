"""The report of metrics with a coherence filter, and its Warnings section."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from weirdgen.report import ReportPaths, render_table, write_report
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import COHERENCE_COLUMNS, emptiness_warnings

NAN = math.nan
COHERENT = {  # per condition, the coherence ratings of the 4 answers to each question
    "insecure": [90, 90, 20, NAN],  # 50% left out, half of it unrated
    "secure": [90, 90, 90, 10],
    "base": [90, 90, 90, 90],
}
EXCLUDED = "excluded (coherent < 50)"


def make_spec() -> ExperimentSpec:
    filtered = {"score": "coherent", "min": 50}
    return ExperimentSpec.model_validate(
        {
            "name": "em_demo",
            "seeds": 2,
            "conditions": [
                {"name": "insecure", "role": "target", "dataset": {"organism": "birds_old"}},
                {"name": "secure", "role": "control", "dataset": {"organism": "birds_modern"}},
                {"name": "base", "role": "control"},
            ],
            "evaluation": {
                "sets": [
                    {
                        "name": "main",
                        "questions": [{"id": q, "paraphrases": [f"{q}?"]} for q in ("q1", "q2")],
                    },
                    {
                        "name": "years",
                        "vary": {"year": [1850, 1900]},
                        "questions": [{"id": "news_{year}", "paraphrases": ["In {year}?"]}],
                    },
                ]
            },
            # the second scorer stands in for a coherence judge: it provides 'coherent'
            "scorers": [
                {"name": "old", "kind": "organism_era"},
                {"name": "coherent", "kind": "organism_era"},
            ],
            "metrics": [
                {"name": "plain_old", "eval_set": "main", "score": "old"},
                {
                    "name": "misaligned",
                    "eval_set": "main",
                    "score": "old",
                    "coherence": filtered,
                    "headline": True,
                },
                {
                    "name": "old_by_year",
                    "eval_set": "years",
                    "score": "old",
                    "by": ["year"],
                    "coherence": filtered,
                },
            ],
        }
    )


def make_samples(spec: ExperimentSpec, unscored: str | None = None) -> pd.DataFrame:
    """Answers 1, 0, 1, 1 to every question; condition ``unscored`` has no old scores on main."""
    questions = [("main", "q1", None), ("main", "q2", None)]
    questions += [("years", f"news_{y}", y) for y in (1850, 1900)]
    rows = [
        {
            "condition": c.name,
            "role": c.role,
            "seed": seed,
            "eval_set": eval_set,
            "question_id": question,
            "sample_index": index,
            "answer": "answer",
            "year": year,
            "old": NAN if c.name == unscored and eval_set == "main" else float(index != 1),
            "coherent": COHERENT[c.name][index],
        }
        for c in spec.conditions
        for seed in spec.seeds
        for eval_set, question, year in questions
        for index in range(4)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def spec() -> ExperimentSpec:
    return make_spec()


@pytest.fixture(scope="module")
def clean(tmp_path_factory, spec) -> ReportPaths:
    return write_report(tmp_path_factory.mktemp("clean"), spec, make_samples(spec))


@pytest.fixture(scope="module")
def warned(tmp_path_factory, spec) -> ReportPaths:
    samples = make_samples(spec, unscored="base")
    return write_report(tmp_path_factory.mktemp("warned"), spec, samples)


def markdown_row(text: str, first: str) -> list[str]:
    """The cells of the first table row of ``text`` whose first cell is ``first``."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {first} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def rendered(tables, width: int = 100) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(tables)
    return console.export_text().splitlines()


def test_summary_has_the_share_left_out_beside_the_filtered_metric(clean):
    text = clean.summary_md.read_text()
    header = markdown_row(text, "condition")
    assert header[2:] == ["seeds", "misaligned (headline)", EXCLUDED, "plain_old"]
    insecure = markdown_row(text, "**insecure**")
    secure, base = markdown_row(text, "secure"), markdown_row(text, "base")
    assert insecure[4] == "50.0% (incl. 25.0% unrated)"
    assert (secure[4], base[4]) == ("25.0%", "0.0%")
    assert insecure[3].startswith("0.500 [") and secure[3].startswith("0.667 [")
    assert insecure[5].startswith("0.750 [")  # the unfiltered metric keeps every answer
    html = clean.report_html.read_text()
    assert "<th>excluded (coherent &lt; 50)</th>" in html
    assert "<td>50.0% (incl. 25.0% unrated)</td>" in html
    assert "leaving out answers whose `coherent` is below 50 or missing" in text


def test_tables_carry_the_exact_share_and_counts(clean):
    summary = pd.read_csv(clean.summary_csv)
    assert list(summary.columns[-4:]) == list(COHERENCE_COLUMNS)
    row = summary.loc[(summary["metric"] == "misaligned") & (summary["condition"] == "insecure")]
    assert row[list(COHERENCE_COLUMNS)].iloc[0].tolist() == [16, 4, 4, 0.5]
    assert summary.loc[summary["metric"] == "plain_old", "excluded"].isna().all()
    per_seed = pd.read_csv(clean.seed_metrics_csv)
    assert per_seed.loc[per_seed["metric"] == "misaligned", "excluded"].tolist() == [
        0.5, 0.5, 0.25, 0.25, 0.0, 0.0
    ]  # fmt: skip


def test_a_by_metric_section_shows_the_share_per_value(clean):
    text = clean.summary_md.read_text()
    caption = f"**old_by_year: answers {EXCLUDED} per year and condition**"
    assert caption in text
    table = text.split(caption)[1]
    assert markdown_row(table, "1850") == ["1850", "50.0% (incl. 25.0% unrated)", "25.0%", "0.0%"]


def test_terminal_shows_the_share_and_prints_each_warning_on_its_own_line(clean, spec):
    summary = pd.read_csv(clean.summary_csv)
    contrasts = pd.read_csv(clean.contrasts_csv)
    warnings = emptiness_warnings(make_samples(spec, unscored="base"), spec.metrics)
    tables = render_table(summary, contrasts, spec, warnings=warnings)
    headers = [str(column.header) for column in tables.metrics.columns]
    assert headers == ["condition", "seeds", "misaligned (headline)", EXCLUDED, "plain_old"]
    assert [t.title.plain for t in tables.per_value] == [
        "old_by_year by year: mean over seeds [95% CI]",
        f"old_by_year by year: answers {EXCLUDED}",
    ]
    assert len(warnings) == 2 and all(len(line) > 100 for line in warnings)
    wide = rendered(tables, width=500)
    assert wide[-2:] == [f"warning: {line}" for line in warnings]
    lines = rendered(tables)  # wrapped at 100 columns, nothing cut off
    starts = [i for i, line in enumerate(lines) if line.startswith("warning: ")]
    assert len(starts) == 2
    assert " ".join(line.strip() for line in lines[starts[1] :]) == f"warning: {warnings[1]}"
    unwarned = rendered(render_table(summary, contrasts, spec))
    assert unwarned == lines[: len(unwarned)] and not any("warning" in line for line in unwarned)


def test_warnings_section_only_when_warned(clean, warned, spec):
    assert "Warnings" not in clean.summary_md.read_text()
    assert "Warnings" not in clean.report_html.read_text()
    text = warned.summary_md.read_text()
    lines = emptiness_warnings(make_samples(spec, unscored="base"), spec.metrics)
    assert lines[0].startswith(
        "metric plain_old has no valid rows in condition base (0 of 16 answers scored; column "
        "old is empty there)"
    )
    section = "## Warnings\n\n" + "".join(f"- {line}\n" for line in lines) + "\n## Conditions"
    assert section in text
    assert text.index("## Warnings") < text.index("## Metrics per condition")
    html = warned.report_html.read_text()
    assert "<h2>Warnings</h2><ul><li>metric plain_old has no valid rows" in html


def test_reports_of_metrics_without_a_filter_have_no_share(tmp_path: Path, spec):
    plain = spec.model_copy(update={"metrics": spec.metrics[:1]})
    paths = write_report(tmp_path, plain, make_samples(spec))
    assert "excluded" not in paths.summary_md.read_text()
    assert "excluded" not in pd.read_csv(paths.summary_csv).columns
