"""The pieces of issue 15's third part in a real browser (Chromium through Playwright), at
desktop and phone widths: undoing a mis-click on the case page, the school dashboard's trends
and pages, the trust table sorted, the whole letter, and charts that fit a phone.

Skipped with the reason when Playwright or Chromium is missing (as ``test_web_browser``). Set
``ESCALATION_FLOW_SCREENSHOTS=docs/pages`` to keep the screenshots (``scripts/web_screenshots``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_web_browser import DESKTOP, PHONE, _login, _page, _shot, browser, server

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Locator, Page, expect

__all__ = ["browser", "server"]  # the fixtures, used by name
pytestmark = pytest.mark.browser


def _shot_of(part: Locator, name: str) -> None:
    """A screenshot of one part of a page (a chart, a table) when screenshots are kept."""
    folder = os.environ.get("ESCALATION_FLOW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        part.screenshot(path=str(Path(folder) / f"{name}.png"))


def _fits(page: Page, part: Locator) -> None:
    """``part`` is shown whole within the page's width (nothing to scroll sideways)."""
    box = part.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["width"] > 0.5 * width
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (box, width)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1, f"the page scrolls sideways: {overflow} > {width}"


def _undo_a_meeting(page: Page, server: str, pupil: str, size: str) -> None:
    page.goto(f"{server}/schools/school-01/pupils/{pupil}")
    meeting = page.locator("article.task").filter(has_text="Attendance meeting").first
    meeting.get_by_role("button", name="Held").click()
    page.goto(f"{server}/schools/school-01/pupils/{pupil}")
    card = page.locator("#undo")
    expect(card).to_contain_text("Nothing has followed from it yet")
    _labelled_button = card.get_by_role("button", name="Undo attendance meeting")
    expect(_labelled_button).to_be_visible()
    _shot(page, f"undo-{size}")
    _labelled_button.click()
    expect(page.get_by_role("status")).to_contain_text("Undone")
    expect(page.locator(".timeline")).to_contain_text("Undone: Attendance meeting")
    expect(page.locator("#undo")).to_contain_text("already undone")
    expect(page.locator("article.task").filter(has_text="Attendance meeting").first).to_be_visible()


def test_an_attendance_lead_undoes_a_mis_click_on_a_desktop(server: str, browser: Browser) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "lead")
    _undo_a_meeting(page, server, "S01-P0004", "desktop")
    context.close()


def test_an_attendance_lead_undoes_a_mis_click_on_a_phone_and_sees_charts_whole(
    server: str, browser: Browser
) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    _login(page, server, "lead")
    _undo_a_meeting(page, server, "S01-P0014", "phone")
    chart = page.get_by_role("img", name="Attendance of")
    expect(chart).to_be_visible()
    _fits(page, chart)
    _shot_of(chart, "case-chart-phone")
    page.goto(f"{server}/schools/school-01")
    expect(page.get_by_role("heading", name="Week by week: this year against last")).to_be_visible()
    for trend in page.locator(".trend-card").all():
        _fits(page, trend.locator(".chart-phone svg"))
    _shot_of(page.locator(".trends"), "school-trends-phone")
    context.close()


def test_the_trust_team_sorts_the_trust_table_and_reads_a_school_s_trends(
    server: str, browser: Browser
) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "trust")
    page.goto(f"{server}/trust")
    page.get_by_role("link", name="Overdue tasks").click()
    header = page.locator("th[aria-sort='descending']")
    expect(header).to_contain_text("Overdue tasks")
    cells = [int(c) for c in page.locator("td[data-label='Overdue tasks']").all_inner_texts()]
    assert cells == sorted(cells, reverse=True)
    page.get_by_role("link", name="Overdue tasks").click()  # again: reversed
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Overdue tasks")
    _shot(page, "trust-sorted-desktop")
    page.get_by_role("link", name="Synthetic School 01").click()
    trends = page.locator(".trends")
    expect(trends).to_contain_text("Attendance each school week")
    expect(trends).to_contain_text("last year: no data")
    for svg in trends.locator(".chart-desktop svg").all():
        expect(svg).to_be_visible()
    _shot_of(trends, "school-trends-desktop")
    context.close()


@pytest.mark.needs_program("pdftoppm")
def test_the_whole_letter_is_shown_at_a_phone_s_width(server: str, browser: Browser) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    _login(page, server, "lead")
    page.get_by_role("link", name="Read and approve the letter").first.click()
    pages = page.locator("img.letter-page")
    expect(pages.first).to_be_visible()
    loaded: Any = pages.first.evaluate("img => img.complete && img.naturalWidth")
    assert loaded and int(loaded) > 300
    _fits(page, pages.first)
    _shot(page, "letter-phone")
    context.close()
