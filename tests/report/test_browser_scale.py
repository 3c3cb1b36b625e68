"""A report of 100,000 answers: answers.html opens and filters them in Chromium, with counts
that agree with the table, well inside the issue's 2 seconds.

The time bound here is 5 times the target, so that a loaded machine does not fail the test;
benchmarks/bench_browser.py measures the real figures (BENCHMARKS.md has them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_data import big_samples, big_spec
from browser_session import column_cells, launch_browser, matching, open_page

from weirdgen.report import write_report

pytestmark = pytest.mark.slow

ROWS = 100_000
TARGET_S = 2.0
MARGIN = 5


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory):
    spec = big_spec()
    samples = big_samples(spec, ROWS)
    run_dir = tmp_path_factory.mktemp("big")
    paths = write_report(run_dir, spec, samples)
    return paths.answers_html, samples


def test_100000_answers_open_and_filter_in_time(browser, big_run):
    answers, samples = big_run
    page = open_page(browser, answers)
    opened = page.evaluate("performance.now()") / 1000  # since navigation began
    assert matching(page) == ROWS
    timed = page.evaluate(
        """() => {
            const start = performance.now();
            const select = document.querySelector("#filters select[name='condition']");
            select.value = "old_birds";
            select.dispatchEvent(new Event("change"));
            const range = document.querySelector("#filters input[name='coherent..']");
            range.value = "50..90";
            range.dispatchEvent(new Event("change"));
            const search = document.querySelector("#search");
            search.value = "telegraph";
            search.dispatchEvent(new Event("change"));
            return (performance.now() - start) / 1000;
        }"""
    )
    kept = samples.loc[
        (samples["condition"] == "old_birds")
        & samples["coherent"].between(50, 90)
        & samples["answer"].str.contains("telegraph")
    ]
    assert matching(page) == len(kept) > 0
    assert column_cells(page, "answer") == kept["answer"].head(50).tolist()
    assert page.errors == []
    assert opened + timed < MARGIN * TARGET_S, (
        f"opened in {opened:.2f} s, filtered in {timed:.2f} s"
    )
