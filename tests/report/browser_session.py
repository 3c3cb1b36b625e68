"""A headless Debian Chromium driven by Playwright, for the answer browser's tests.

Without Playwright or /usr/bin/chromium the tests skip with the reason, unless the
environment sets WEIRDGEN_REQUIRE_BROWSER=1 (CI does), where they fail instead. A browser
build downloaded at install time is never used: this machine cannot reach one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("WEIRDGEN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and WEIRDGEN_REQUIRE_BROWSER=1 requires the browser tests")
    pytest.skip(reason)


def launch_browser() -> Iterator[object]:
    """Yield a launched Chromium browser (a Playwright ``Browser``), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('Playwright is not installed: pip install "weirdgen[browser]"')
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, path: Path, fragment: str = ""):
    """A new page showing ``path`` by file:// (no server), once its script has run."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # read by the tests: a script error must fail them
    page.goto(path.resolve().as_uri() + (f"#{fragment}" if fragment else ""))
    if path.name == "answers.html":
        page.wait_for_selector("body[data-ready='1']")
    return page


def matching(page) -> int:
    """The number of answers the page says match its filters."""
    return int(page.get_attribute("#status", "data-matching"))


def column_cells(page, column: str) -> list[str]:
    """The text of ``column``'s cells in the rows the page shows."""
    return page.evaluate(
        """(column) => {
            const names = [...document.querySelectorAll('#answers thead th')]
                .map((th) => th.textContent);
            const index = names.indexOf(column);
            return [...document.querySelectorAll('#answers tbody tr:not(.detail)')]
                .map((tr) => tr.children[index].textContent);
        }""",
        column,
    )


def choose(page, column: str, value: str) -> None:
    """Pick ``value`` in ``column``'s filter ('' for any), as a user would."""
    page.select_option(f"#filters select[name='{column}']", value)


def set_range(page, column: str, text: str) -> None:
    """Type a range such as '0.5..1' into ``column``'s range box and leave it."""
    box = page.locator(f"#filters input[name='{column}..']")
    box.fill(text)
    box.dispatch_event("change")


def search(page, text: str) -> None:
    """Type ``text`` into the search box and press Enter."""
    page.fill("#search", text)
    page.press("#search", "Enter")
