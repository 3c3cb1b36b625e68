"""Answers are model output: answers.html shows markup in them as text and runs none of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_session import choose, column_cells, launch_browser, matching, open_page, search
from report_data import make_samples, make_spec

from weirdgen.report import write_report

HOSTILE = (
    "<script>window.pwned = 'script'</script>",
    '<img src="x" onerror="window.pwned = \'img\'">',
    "</script><script>window.pwned = 'closed'</script>",
    "<!-- <b>bold</b>",
    "a & b \u2028 line\nbreak",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):
    spec = make_spec()
    samples = make_samples(spec)
    samples["answer"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(samples))]
    samples.loc[0, "question_id"] = "<i>q</i>"  # a metadata-like value with markup too
    run_dir = tmp_path_factory.mktemp("hostile")
    write_report(run_dir, spec, samples)
    return run_dir, samples


def test_markup_in_answers_is_shown_as_text(browser, hostile_run):
    run_dir, samples = hostile_run
    page = open_page(browser, run_dir / "answers.html")
    assert page.errors == []
    assert matching(page) == len(samples)  # the data block survived "</script>" in an answer
    assert page.evaluate("window.pwned") is None
    assert page.locator("#answers img, #answers script, #answers b, #answers i").count() == 0
    shown = column_cells(page, "answer")
    assert shown == samples["answer"].head(50).tolist()
    assert column_cells(page, "question_id")[0] == "<i>q</i>"
    search(page, "onerror")
    assert matching(page) == int(samples["answer"].str.contains("onerror").sum()) > 0
    search(page, "")
    choose(page, "question_id", "<i>q</i>")
    assert matching(page) == 1
    page.locator("#answers tbody tr").first.click()  # the row's details, every column
    assert page.locator("tr.detail dd", has_text="window.pwned").count() == 1
    assert page.evaluate("window.pwned") is None
    assert page.errors == []
