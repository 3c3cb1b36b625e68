from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from weirdgen.report import ReportPaths, write_report
from weirdgen.stats import seed_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.references += [v for k, v in attrs if k in ("src", "href") and v is not None]


def test_every_file_is_written_under_run_dir(report):
    run_dir, paths = report
    names = {path.relative_to(run_dir).as_posix() for path in paths}
    assert {
        "samples.parquet",
        "samples.csv",
        "seed_metrics.csv",
        "summary.md",
        "report.html",
        "figures/metrics.png",
        "figures/questions.png",
    } <= names
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0, path
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_parquet_round_trips_and_csv_has_every_row(report, samples):
    _, paths = report
    pd.testing.assert_frame_equal(pd.read_parquet(paths.samples_parquet), samples)
    from_csv = pd.read_csv(paths.samples_csv)
    assert list(from_csv.columns) == list(samples.columns)
    assert len(from_csv) == len(samples)
    assert from_csv["old"].isna().sum() == samples["old"].isna().sum()


def test_seed_metrics_csv_matches_the_stats(report, spec, samples):
    _, paths = report
    written = pd.read_csv(paths.seed_metrics_csv)
    expected = seed_metrics(samples, spec.metrics)
    assert list(written.columns) == ["condition", "role", "seed", "metric", "value"]
    assert written["value"].to_numpy() == pytest.approx(expected["value"].to_numpy())


def test_pngs_are_valid_images(report):
    _, paths = report
    for path in (paths.metrics_png, paths.questions_png):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 10_000


def test_html_is_self_contained_and_references_existing_files(report):
    run_dir, paths = report
    parser = _References()
    parser.feed(paths.report_html.read_text(encoding="utf-8"))
    assert "script" not in parser.tags and "link" not in parser.tags
    files = {reference.partition("#")[0] for reference in parser.references}
    assert files == {"answers.html", "figures/metrics.png", "figures/questions.png"}
    for reference in files:
        assert not re.match(r"^[a-z]+:", reference)
        assert (run_dir / reference).is_file()


def test_summary_markdown_has_tables_contrasts_questions_and_how_to_read(report, spec):
    run_dir, paths = report
    text = paths.summary_md.read_text(encoding="utf-8")
    assert text.startswith(f"# {spec.name}\n")
    assert spec.description in text
    header = next(line for line in text.splitlines() if line.startswith("| condition"))
    assert header.index("old_rate (headline)") < header.index("valid_rate")
    assert re.search(
        r"\| \*\*old_birds\*\* \| target \| 3 \| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", text
    )
    for control in ("modern_birds", "base"):
        assert re.search(rf"\| old_rate \| {control} \| [+-]\d\.\d{{3}} \[", text)
    assert "## Contrasts: old_birds − each control" in text
    for question in ("inventions", "president", "transport"):
        assert re.search(rf"^\| {question} \|", text, re.MULTILINE)
    assert "How to read this" in text and "Student t" in text
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (run_dir / image).is_file()


def test_failed_write_keeps_the_previous_file(tmp_path, spec, samples, monkeypatch):
    previous = tmp_path / "report.html"
    previous.write_text("<p>previous report</p>", encoding="utf-8")

    def broken(content: object) -> str:
        raise RuntimeError("killed while rendering")

    monkeypatch.setattr("weirdgen.report.write.render_html", broken)
    with pytest.raises(RuntimeError):
        write_report(tmp_path, spec, samples)
    assert previous.read_text(encoding="utf-8") == "<p>previous report</p>"
    assert (tmp_path / "summary.md").is_file()
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")] == []


@pytest.mark.filterwarnings("error")
def test_single_seed_report_has_no_intervals_and_no_warnings(tmp_path, spec_with, samples_for):
    spec = spec_with(seeds=1)
    paths: ReportPaths = write_report(tmp_path, spec, samples_for(spec))
    summary = pd.read_csv(paths.summary_csv)
    assert set(summary["n_seeds"]) == {1}
    assert summary["ci_low"].isna().all()
    assert "[n/a]" in paths.summary_md.read_text(encoding="utf-8")
    assert paths.metrics_png.read_bytes().startswith(PNG_SIGNATURE)


def test_contrasts_csv_pairs_every_seed(report):
    _, paths = report
    table = pd.read_csv(paths.contrasts_csv)
    assert set(table["control"]) == {"modern_birds", "base"}
    assert table["paired"].all() and set(table["n_pairs"]) == {3}
    headline = table.loc[table["metric"] == "old_rate"]
    assert (headline["diff"] > 0).all() and not math.isnan(headline["diff"].iloc[0])
