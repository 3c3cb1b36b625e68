"""answers.html of a real organism run, opened by file:// in headless Chromium: the filters
change what is shown, the counts agree with the samples table, and a bar of report.html's
figures opens the browser on that bar's answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from browser_session import (
    choose,
    column_cells,
    launch_browser,
    matching,
    open_page,
    search,
    set_range,
)

import weirdgen
from weirdgen.spec import builtin_spec_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The built-in birds experiment with 2 seeds, 2 unrelated questions and 3 samples."""
    spec = yaml.safe_load((builtin_spec_dir() / "organism" / "birds.yaml").read_text())
    spec["seeds"] = 2
    spec["evaluation"]["n"] = 3
    spec["evaluation"]["sets"] = [
        s for s in spec["evaluation"]["sets"] if s["name"] != "modern_year"
    ]
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    spec["metrics"] = [m for m in spec["metrics"] if m["eval_set"] != "modern_year"]
    folder = tmp_path_factory.mktemp("browser-run")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    with pytest.MonkeyPatch.context() as patch:  # never the user's model registry
        patch.setenv("WEIRDGEN_HOME", str(tmp_path_factory.mktemp("weirdgen-home")))
        result = weirdgen.run_experiment(
            weirdgen.load_spec(folder / "spec.yaml"), out=folder / "run", progress=False
        )
    return result.run_dir, result.samples


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture
def answers(browser, run):
    page = open_page(browser, run[0] / "answers.html")
    yield page
    assert page.errors == []
    page.close()


def test_every_answer_is_listed_one_page_at_a_time(answers, run):
    samples = run[1]
    assert matching(answers) == len(samples)
    assert len(column_cells(answers, "answer")) == min(50, len(samples))
    assert column_cells(answers, "answer") == samples["answer"].head(50).tolist()
    answers.click("text=next ›")
    assert column_cells(answers, "answer") == samples["answer"].iloc[50:100].tolist()
    assert "~page=2" in answers.evaluate("location.hash")


def test_a_condition_and_a_question_filter_the_rows(answers, run):
    samples = run[1]
    choose(answers, "condition", "old_birds")
    kept = samples.loc[samples["condition"] == "old_birds"]
    assert matching(answers) == len(kept)
    assert set(column_cells(answers, "condition")) == {"old_birds"}
    question = kept["question_id"].iloc[-1]
    choose(answers, "question_id", question)
    kept = kept.loc[kept["question_id"] == question]
    assert matching(answers) == len(kept)
    assert set(column_cells(answers, "question_id")) == {question}
    assert column_cells(answers, "answer") == kept["answer"].head(50).tolist()
    assert answers.evaluate("location.hash") == f"#condition=old_birds&question_id={question}"
    choose(answers, "condition", "")
    assert matching(answers) == int((samples["question_id"] == question).sum())


def test_score_filters_keep_valid_or_invalid_answers_or_a_range(answers, run):
    samples = run[1]
    invalid = samples.loc[~samples["old_valid"]]
    assert 0 < len(invalid) < len(samples)  # the run has both, or this test proves nothing
    choose(answers, "old_valid", "false")
    assert matching(answers) == len(invalid)
    assert set(column_cells(answers, "old_valid")) == {"false"}
    choose(answers, "old_valid", "")
    choose(answers, "old", "(missing)")
    assert matching(answers) == int(samples["old"].isna().sum())
    choose(answers, "old", "")
    choose(answers, "seed", "1")
    set_range(answers, "old", "0.5..")
    assert matching(answers) == int(((samples["old"] >= 0.5) & (samples["seed"] == 1)).sum())
    assert set(column_cells(answers, "old")) == {"1"}


def test_search_finds_words_in_answers_and_prompts(answers, run):
    samples = run[1]
    word = samples["answer"].str.split().str[-1].value_counts().index[0]
    search(answers, word)
    hits = samples["answer"].str.lower().str.contains(word, regex=False) | samples[
        "prompt"
    ].str.lower().str.contains(word, regex=False)
    assert matching(answers) == int(hits.sum()) < len(samples)
    shown = zip(column_cells(answers, "answer"), column_cells(answers, "prompt"), strict=True)
    assert all(word in answer or word in prompt for answer, prompt in shown)
    answers.click("#clear")
    assert matching(answers) == len(samples)
    assert answers.input_value("#search") == ""


def test_a_url_fragment_sets_the_filters(browser, run):
    run_dir, samples = run
    page = open_page(browser, run_dir / "answers.html", "condition=base&condition=modern_birds")
    assert matching(page) == int(samples["condition"].isin(["base", "modern_birds"]).sum())
    assert page.input_value("#filters select[name='condition']") != ""  # shows both values
    page.evaluate("location.hash = '#seed=0'")  # as the back button or an edited URL would
    expected = int((samples["seed"] == 0).sum())
    page.wait_for_function(f"+document.querySelector('#status').dataset.matching === {expected}")
    assert page.input_value("#filters select[name='condition']") == ""
    assert page.errors == []


def test_clicking_a_bar_opens_its_answers(browser, run):
    run_dir, samples = run
    report = open_page(browser, run_dir / "report.html")
    bar = report.locator("a.bar[href*='condition=old_birds'][href*='question_id=']").first
    href = bar.get_attribute("href")
    box = bar.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] > 50
    bar.click()
    report.wait_for_selector("body[data-ready='1']")
    assert report.url.endswith(href)
    question = report.input_value("#filters select[name='question_id']")
    assert f"question_id={question}&" in href
    assert report.input_value("#filters select[name='condition']") == "old_birds"
    # the headline's own rows: those it averages over (its `among` column)
    assert report.input_value("#filters select[name='old_scored']") == "true"
    kept = samples.loc[
        (samples["condition"] == "old_birds")
        & (samples["question_id"] == question)
        & samples["old_scored"]
    ]
    assert matching(report) == len(kept) > 0
    assert column_cells(report, "answer") == kept["answer"].head(50).tolist()
    assert report.errors == []


def test_every_bar_of_the_metrics_figure_has_a_link(browser, run):
    run_dir, samples = run
    report = open_page(browser, run_dir / "report.html")
    image = report.locator("img[src='figures/metrics.png']").bounding_box()
    bars = report.locator("a.bar[href^='answers.html']:not([href*='question_id'])")
    spec = weirdgen.load_spec(run_dir / "spec.yaml")
    assert bars.count() == len(spec.metrics) * len(spec.conditions)
    for index in range(bars.count()):
        box = bars.nth(index).bounding_box()
        assert image["x"] <= box["x"] and box["x"] + box["width"] <= image["x"] + image["width"]
        assert image["y"] <= box["y"] and box["y"] + box["height"] <= image["y"] + image["height"]
