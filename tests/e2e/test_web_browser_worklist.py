"""The pages for real work in a real browser (Chromium through Playwright), desktop and phone:
find a pupil from the header in two keystrokes, filter and sort the worklist, download it as
CSV and Excel and open both, bulk approve and bulk complete behind their confirmation.

Skipped with the reason when Playwright or Chromium is missing (as ``test_web_browser``).
Set ``ESCALATION_FLOW_SCREENSHOTS=docs/pages`` to keep the screenshots.
"""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from tests.e2e import test_web_browser as base
from tests.e2e.test_web_browser import (
    DESKTOP,
    PHONE,
    Browser,
    _labelled,
    _login,
    _page,
    _shot,
    expect,
)

# the same server over a private copy of the test world, and the same Chromium
server = base.server
browser = base.browser


def _matched(text: str) -> int:
    found = re.search(r"of (\d+) tasks?", text)
    assert found, text
    return int(found.group(1))


def test_a_trust_officer_on_a_desktop_finds_filters_sorts_and_downloads(
    server: str,
    browser: Browser,
) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "trust")

    page.get_by_label("Find a pupil by name or id").fill("ja")
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("match")
    expect(page.get_by_role("link", name="Jacob Rossi")).to_be_visible()
    _labelled(page)
    _shot(page, "search-desktop")
    page.get_by_role("link", name="Jacob Rossi").click()
    expect(page.get_by_role("heading", name="Jacob Rossi", exact=False).first).to_be_visible()

    page.get_by_role("link", name="My tasks").click()
    everything = _matched(page.locator("#match-count").inner_text())
    page.get_by_label("School", exact=True).select_option(value="school-03")
    page.get_by_label("Only overdue").check()
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"school=school-03.*overdue=1|overdue=1.*school=school-03"))
    selected = _matched(page.locator("#match-count").inner_text())
    assert 0 < selected < everything
    page.get_by_role("navigation", name="Sort the tasks").get_by_role("link", name="Pupil").click()
    expect(page).to_have_url(re.compile(r"sort=pupil"))
    expect(page.get_by_role("heading", name=re.compile("Sorted by pupil"))).to_be_visible()
    _labelled(page)
    _shot(page, "worklist-desktop")

    with page.expect_download() as got:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(got.value.path().read_text(encoding="utf-8-sig"))))
    assert len(rows) == selected
    assert {r["School"] for r in rows} == {"Synthetic School 03"}
    assert all(int(r["School days overdue"]) > 0 for r in rows)
    with page.expect_download() as got:
        page.get_by_role("link", name="Download Excel").click()
    assert got.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(got.value.path().read_bytes())).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("Task id", "School", "Pupil id") and len(values) == selected + 1
    context.close()


def test_an_attendance_lead_on_a_desktop_bulk_approves_the_letters_waiting(
    server: str,
    browser: Browser,
) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "lead")
    page.get_by_role("link", name="Approve the letters…").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Approve the letters of")
    count = int(re.findall(r"\d+", heading.inner_text())[0])
    assert count > 0
    expect(page.get_by_role("heading", name="What will happen")).to_be_visible()
    _labelled(page)
    _shot(page, "bulk-confirm-desktop")
    page.get_by_role("button", name=f"Approve {count} tasks").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Approved the letters of {count}")
    # nothing is left waiting: the confirmation now offers nothing to approve
    page.goto(f"{server}/tasks/bulk?action=approve")
    expect(page.get_by_role("heading", level=1)).to_contain_text("0 tasks")
    context.close()


def test_an_attendance_lead_on_a_phone_searches_filters_and_bulk_completes_calls(
    server: str,
    browser: Browser,
) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    _login(page, server, "lead")
    page.get_by_label("Find a pupil by name or id").fill("ro")
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_role("link", name="Jacob Rossi")).to_be_visible()
    _shot(page, "search-phone")

    page.goto(f"{server}/tasks")
    page.get_by_label("Kind").select_option(value="call")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"kind=call"))
    calls = _matched(page.locator("#match-count").inner_text())
    _labelled(page)
    _shot(page, "worklist-phone")
    page.get_by_role("link", name=re.compile(r"Complete all \d+")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Complete {calls} task")
    _shot(page, "bulk-confirm-phone")
    page.get_by_label("Note kept with each (optional)").fill("Rang every family this morning")
    page.get_by_role("button", name=re.compile(f"Complete {calls} task")).click()
    expect(page.get_by_role("status").first).to_contain_text(f"Completed {calls} task")
    context.close()
