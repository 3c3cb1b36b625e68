"""Reports of metrics with ``by`` keys (a year sweep, a trigger) and of training curves."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from report_data import STEPS, YEARS, make_sweep_samples, make_sweep_spec
from rich.console import Console

from weirdgen.report import ReportPaths, render_table, write_report
from weirdgen.report._tables import plain_rows
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import final_samples, seed_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INTERVAL = (
    "95% CI (Student t) across 3 finetune seeds of one base model and one dataset per "
    "condition; base: not finetuned, seeds vary sampling only"
)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.sources += [v for k, v in attrs if tag == "img" and k == "src" and v]


@pytest.fixture(scope="module")
def sweep_spec() -> ExperimentSpec:
    return make_sweep_spec()


@pytest.fixture(scope="module")
def sweep_samples(sweep_spec: ExperimentSpec) -> pd.DataFrame:
    return make_sweep_samples(sweep_spec)


@pytest.fixture(scope="module")
def sweep(
    tmp_path_factory: pytest.TempPathFactory,
    sweep_spec: ExperimentSpec,
    sweep_samples: pd.DataFrame,
) -> tuple[Path, ReportPaths]:
    run_dir = tmp_path_factory.mktemp("sweep")
    return run_dir, write_report(run_dir, sweep_spec, sweep_samples)


def test_figures_and_step_tables_are_written(sweep):
    run_dir, paths = sweep
    names = {path.relative_to(run_dir).as_posix() for path in paths}
    assert {
        "figures/metrics.png",
        "figures/questions.png",
        "figures/old_by_year_by_year.png",
        "figures/old_by_trigger_by_trigger.png",
        "figures/steps.png",
        "step_metrics.csv",
        "step_summary.csv",
    } <= names
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0, path
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_summary_has_a_column_per_key_and_a_row_per_value(sweep):
    _, paths = sweep
    summary = pd.read_csv(paths.summary_csv)
    assert list(summary.columns) == [
        "condition", "role", "metric", "year", "trigger", "mean", "ci_low", "ci_high", "n_seeds",
    ]  # fmt: skip
    plain = summary.loc[summary["metric"].isin(["old_rate", "valid_rate"])]
    assert plain[["year", "trigger"]].isna().all().all() and len(plain) == 6
    by_year = summary.loc[summary["metric"] == "old_by_year"]
    assert by_year["trigger"].isna().all()
    target = by_year.loc[by_year["condition"] == "old_birds"].set_index("year")["mean"]
    assert sorted(target.index) == list(YEARS)
    assert target[1850] > target[1950] + 0.3  # the sweep's slope is there
    assert (summary["ci_low"].dropna() >= 0).all() and (summary["ci_high"].dropna() <= 1).all()
    by_trigger = summary.loc[summary["metric"] == "old_by_trigger"]
    assert set(by_trigger["trigger"]) == {"on", "off"} and by_trigger["year"].isna().all()


def test_contrasts_per_value(sweep):
    _, paths = sweep
    table = pd.read_csv(paths.contrasts_csv)
    by_year = table.loc[(table["metric"] == "old_by_year") & (table["control"] == "base")]
    assert sorted(by_year["year"]) == list(YEARS)
    assert by_year["paired"].all() and set(by_year["n_pairs"]) == {3}
    assert (by_year.set_index("year")["diff"][1850] > 0.5) and (table["ci_high"] <= 1).all()


def test_standard_metrics_use_the_final_models_only(sweep, sweep_spec, sweep_samples):
    _, paths = sweep
    written = pd.read_csv(paths.seed_metrics_csv)
    final = seed_metrics(sweep_samples.loc[sweep_samples["final"]], sweep_spec.metrics)
    assert written["value"].to_numpy() == pytest.approx(final["value"].to_numpy())
    assert len(final_samples(sweep_samples)) < len(sweep_samples)


def test_step_metrics_give_the_headline_per_seed_and_step(sweep):
    _, paths = sweep
    steps = pd.read_csv(paths.step_metrics_csv)
    assert list(steps.columns) == ["condition", "role", "seed", "metric", "step", "value"]
    assert set(steps["metric"]) == {"old_rate"}
    target = steps.loc[steps["condition"] == "old_birds"]
    assert sorted(set(target["step"])) == list(STEPS) and len(target) == 3 * len(STEPS)
    assert set(steps.loc[steps["condition"] == "base", "step"]) == {0}
    curve = pd.read_csv(paths.step_summary_csv)
    means = curve.loc[curve["condition"] == "old_birds"].set_index("step")["mean"]
    assert means[STEPS[0]] < means[STEPS[-1]]
    assert set(curve["n_seeds"]) == {3}


def test_summary_md_and_html_show_the_sweeps_with_the_interval_statement(sweep):
    run_dir, paths = sweep
    text = paths.summary_md.read_text(encoding="utf-8")
    assert f"Intervals: {INTERVAL}." in text
    assert "## old_by_year by year" in text and "## old_by_trigger by trigger" in text
    for year in YEARS:
        assert re.search(rf"^\| {year} \| \d\.\d{{3}} \[", text, re.MULTILINE), year
    assert re.search(r"^\| on \| \d\.\d{3} \[", text, re.MULTILINE)
    assert re.search(r"^\| year \| old_birds − modern_birds \[95% CI\] \|", text, re.MULTILINE)
    assert "## Training curve: old_rate" in text
    assert re.search(rf"^\| {STEPS[-1]} \| \d\.\d{{3}} \[", text, re.MULTILINE)
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    parser = _Images()
    parser.feed(paths.report_html.read_text(encoding="utf-8"))
    figures = {p.relative_to(run_dir).as_posix() for p in paths if p.suffix == ".png"}
    assert set(images) == set(parser.sources) == figures
    assert INTERVAL in paths.report_html.read_text(encoding="utf-8")


def test_terminal_tables_from_the_csvs_state_the_interval_and_show_values(sweep, sweep_spec):
    _, paths = sweep
    summary, contrasts = pd.read_csv(paths.summary_csv), pd.read_csv(paths.contrasts_csv)
    tables = render_table(summary, contrasts, sweep_spec)
    assert [str(c.header) for c in tables.metrics.columns] == [
        "condition", "seeds", "old_rate (headline)", "valid_rate",
    ]  # fmt: skip
    assert tables.contrasts.row_count == 4 and len(tables.per_value) == 2
    console = Console(width=100, record=True, color_system=None)
    console.print(tables)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    heading = " ".join(line.strip() for line in lines[:4])
    assert "3 finetune seeds of one base model and one dataset per condition" in heading
    assert any(re.match(r"│ 1850 +│ +0\.\d\d \[", line) for line in lines)


def test_a_spec_whose_metrics_all_have_keys_still_reports(tmp_path):
    spec = make_sweep_spec(with_plain_metrics=False)
    paths = write_report(tmp_path, spec, make_sweep_samples(spec, n=2, checkpoints=False))
    assert paths.metrics_png is None and paths.steps_png is None
    assert paths.step_metrics_csv is None and not (tmp_path / "step_metrics.csv").exists()
    assert paths.value_pngs["old_by_year"].is_file()
    text = paths.summary_md.read_text(encoding="utf-8")
    assert "| **old_birds** | target | 3 |" in text and "## Contrasts" not in text
    assert "figures/metrics.png" not in paths.report_html.read_text(encoding="utf-8")


def test_seed_counts_come_from_the_data(tmp_path, sweep_spec, sweep_samples):
    fewer = sweep_samples.loc[
        ~((sweep_samples["condition"] == "modern_birds") & (sweep_samples["seed"] == 2))
    ]
    paths = write_report(tmp_path, sweep_spec, fewer)
    text = paths.summary_md.read_text(encoding="utf-8")
    assert "across 2–3 finetune seeds of one base model" in text


def test_plain_rows_are_the_metrics_without_keys_in_every_stats_table(sweep):
    _, paths = sweep
    for path, rows_per_metric in [
        (paths.seed_metrics_csv, 9),
        (paths.summary_csv, 3),
        (paths.contrasts_csv, 2),
    ]:
        plain = plain_rows(pd.read_csv(path))
        assert sorted(set(plain["metric"])) == ["old_rate", "valid_rate"], path.name
        assert len(plain) == 2 * rows_per_metric, path.name
