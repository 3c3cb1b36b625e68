"""Every link of report.html to answers.html opens the browser on the answers it names.

A sweep report with intermediate checkpoints and a label judge has every kind of link: bars
of the metrics and per-question figures, grouped bars by a text key, a curve by a numeric key
(a line of links per condition), the training curve (links per step) and the label shares.
Each link is followed in Chromium and its count compared with the same filters applied to
the table; the metrics figure's bars are compared with the rows the metric itself reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from browser_session import launch_browser, open_page
from report_data import make_sweep_samples, make_sweep_spec

from weirdgen.report import write_report
from weirdgen.report.browser import MISSING, format_value
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats.metrics import final_samples, metric_rows

LABELS = ["LLM", "PAST", "OTHER"]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("answers.html#"):
            self.hrefs.append(href)


def _spec() -> ExperimentSpec:
    data = make_sweep_spec().model_dump(mode="json")
    data["scorers"].append(
        {
            "name": "category",
            "kind": "label_judge",
            "model": "openai/judge",
            "prompt": "{answer}",
            "labels": LABELS,
            "positive": ["PAST"],
        }
    )
    return ExperimentSpec.model_validate(data)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory):
    spec = _spec()
    samples = make_sweep_samples(spec)
    samples["category_label"] = np.array(LABELS)[np.arange(len(samples)) % 3]
    samples.loc[samples.index % 7 == 0, "category_label"] = None
    run_dir = tmp_path_factory.mktemp("sweep-links")
    write_report(run_dir, spec, samples)
    parser = _Links()
    parser.feed((run_dir / "report.html").read_text(encoding="utf-8"))
    return run_dir, spec, samples, parser.hrefs


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


def selected(samples: pd.DataFrame, href: str) -> pd.DataFrame:
    """The rows the browser should show for ``href``, by the rules of answer_links."""
    keep = pd.Series(True, index=samples.index)
    wanted: dict[str, list[str]] = {}
    for part in href.partition("#")[2].split("&"):
        key, _, value = (unquote(p) for p in part.partition("="))
        wanted.setdefault(key, []).append(value)
    for key, values in wanted.items():
        shown = samples[key].map(lambda v: MISSING if pd.isna(v) else format_value(v))
        ranges = [v for v in values if re.fullmatch(r"[\d.]*\.\.[\d.]*", v)]
        if ranges:
            low, _, high = ranges[0].partition("..")
            numbers = samples[key].astype(float)
            keep &= numbers.ge(float(low or "-inf")) & numbers.le(float(high or "inf"))
        else:
            keep &= shown.isin(values)
    return samples.loc[keep]


def test_every_kind_of_figure_links_to_its_answers(sweep):
    _, _, _, hrefs = sweep
    joined = "\n".join(hrefs)
    assert "question_id=" in joined  # per-question bars
    assert re.search(r"year=1850(&|$)", joined)  # the curve over years
    assert re.search(r"trigger=on(&|$)", joined)  # grouped bars by trigger
    assert "category_label=PAST" in joined  # label shares
    steps = [h for h in hrefs if "step=" in h]
    assert steps and not any("final=" in h for h in steps)  # earlier checkpoints included
    rest = [h for h in hrefs if "step=" not in h and "category_label" not in h]
    assert all("final=true" in h for h in rest)  # the figures show the final models only


def test_each_link_shows_the_answers_it_names(browser, sweep):
    run_dir, _, samples, hrefs = sweep
    page = open_page(browser, run_dir / "answers.html")
    for href in dict.fromkeys(hrefs):
        expected = len(selected(samples, href))
        assert expected > 0, href
        page.evaluate("(hash) => { location.hash = hash; }", "#" + href.partition("#")[2])
        page.wait_for_function(
            f"+document.querySelector('#status').dataset.matching === {expected}"
        )
    assert page.errors == []


def test_a_metric_bar_holds_the_rows_its_metric_reads(sweep):
    _, spec, samples, _ = sweep
    final = final_samples(samples)
    bars = [selected(samples, href) for href in sweep_bars(sweep, "figures/metrics.png")]
    plain = [m for m in spec.metrics if not m.by]
    assert len(bars) == len(plain) * len(spec.conditions)
    for metric in plain:
        rows = metric_rows(final, metric)
        if metric.among:
            rows = rows.loc[rows[metric.among].astype(bool)]
        for condition in spec.conditions:
            read = set(rows.index[rows["condition"] == condition.name])
            assert any(set(bar.index) == read for bar in bars), (metric.name, condition.name)


def sweep_bars(sweep, image: str) -> list[str]:
    """The hrefs of the links laid over the bars of ``image`` in report.html."""
    run_dir = sweep[0]
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    block = re.search(rf'<div class="bars"><img src="{re.escape(image)}".*?</div>', text)
    assert block is not None
    return [html.unescape(h) for h in re.findall(r'<a class="bar" href="([^"]+)"', block[0])]
