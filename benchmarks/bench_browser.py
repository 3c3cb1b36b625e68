"""The answer browser (answers.html) at scale: file size, time to open, time to filter.

Usage: python benchmarks/bench_browser.py [--repeats 3] [--write]

Writes answers.html for synthetic tables (tests/report/browser_data.py: 3 conditions x 5
seeds x 40 questions with year and trigger metadata, a score, a validity flag and a 0-100
rating) of 10,000 and 100,000 answers, with long answers (30 random words, all different,
as a real model's) and short ones (3 words, repeating, as the organism's). Each file is
opened by file:// in headless Debian Chromium (/usr/bin/chromium through Playwright) in a
fresh tab; open is the page's own clock from navigation to the first page of rows drawn.
Then, in that tab: picking a condition, adding a range on the rating, and a text search,
each timed in the page from the event to the rows drawn. Medians over the repeats, variants
alternating. With --write the figures replace the browser section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, cpu_name, write_section

sys.path.insert(0, str(ROOT / "tests" / "report"))

from browser_data import big_samples, big_spec  # noqa: E402
from browser_session import CHROMIUM, LAUNCH_ARGS  # noqa: E402

from weirdgen.report.browser import render_answers_html  # noqa: E402

VARIANTS = [(10_000, 30), (100_000, 30), (100_000, 3)]
FILTERS = """() => {
    const timed = (element, value, event) => {
        const start = performance.now();
        element.value = value;
        element.dispatchEvent(new Event(event));
        return performance.now() - start;
    };
    const condition = timed(
        document.querySelector("#filters select[name='condition']"), "old_birds", "change");
    const range = timed(
        document.querySelector("#filters input[name='coherent..']"), "50..90", "change");
    const search = timed(document.querySelector("#search"), "telegraph", "change");
    return [condition, range, search, +document.querySelector("#status").dataset.matching];
}"""


def write_pages(folder: Path) -> dict[tuple[int, int], tuple[Path, float]]:
    """answers.html per variant, with the seconds render_answers_html took."""
    spec = big_spec()
    pages = {}
    for rows, words in VARIANTS:
        samples = big_samples(spec, rows, words=words)
        start = time.perf_counter()
        text = render_answers_html(samples, spec)
        seconds = time.perf_counter() - start
        path = folder / f"answers_{rows}_{words}.html"
        path.write_text(text, encoding="utf-8")
        pages[(rows, words)] = (path, seconds)
    return pages


def measure(browser, path: Path) -> list[float]:
    """[open, condition, range, search] in ms, and the rows left matching, in a fresh tab."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(path.as_uri(), wait_until="commit")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    opened = page.evaluate("performance.now()")
    times = page.evaluate(FILTERS)
    page.close()
    return [opened, *times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        pages = write_pages(Path(folder))
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        runs: dict[tuple[int, int], list[list[float]]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeats):
            for variant in VARIANTS:
                runs[variant].append(measure(browser, pages[variant][0]))
        version = browser.version
        browser.close()
        rows = []
        for variant in VARIANTS:
            path, seconds = pages[variant]
            medians = [statistics.median(run[i] for run in runs[variant]) for i in range(4)]
            matched = runs[variant][0][4]
            rows.append((variant, os.path.getsize(path) / 1e6, seconds, medians, matched))
    text = report(rows, args.repeats, version)
    print(text)
    if args.write:
        write_section("## Report: the answer browser (answers.html)", text)


def report(rows: list, repeats: int, version: str) -> str:
    base = {words: medians[0] for (n, words), _, _, medians, _ in rows if n == 100_000}
    lines = [
        f"Machine: {cpu_name()}, 2 cores, shared with another job (load average "
        f"{os.getloadavg()[0]:.1f} at the end); Chromium {version} "
        "(Debian), headless, through Playwright. "
        f"Medians of {repeats} fresh tabs per variant, alternating "
        "(`python benchmarks/bench_browser.py --write`). Open: navigation to the first page of "
        "rows drawn, by the page's clock. Filters: from the event to the rows drawn, applied "
        "one after another (condition, then a range on a 0-100 rating, then a text search).",
        "",
        "| answers | answer length | answers.html (MB) | written in (s) | open (ms) "
        "| condition (ms) | + range (ms) | + search (ms) | left |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (n, words), size, seconds, medians, matched in rows:
        opened, condition, ranged, searched = medians
        lines.append(
            f"| {n:,} | {words} words, {'unique' if words > 3 else 'repeating'} | {size:.1f} "
            f"| {seconds:.2f} | {opened:.0f} | {condition:.0f} | {ranged:.0f} | {searched:.0f} "
            f"| {matched:,.0f} |"
        )
    small = next(m[0] for (n, _), _, _, m, _ in rows if n == 10_000)
    lines += [
        "",
        f"Open time, 100,000 over 10,000 long answers: {base[30] / small:.1f}x; 100,000 long "
        f"over 100,000 short answers: {base[30] / base[3]:.1f}x (the file's size, mostly the "
        "answers' text, sets the open time; short answers repeat and are stored once each).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
