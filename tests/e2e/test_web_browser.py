"""The staff pages in a real browser (Debian's Chromium through Playwright), desktop and phone.

A member of staff logs in, sees what is due, completes a task, reads and approves a letter and
records it sent, reads a case; a class teacher cannot reach another school's pupil. Skipped with
the reason when Playwright or Chromium is not installed (``.ci/run`` installs both).

Set ``ESCALATION_FLOW_SCREENSHOTS=docs/pages`` to keep a screenshot of each page
(``scripts/web_screenshots`` does).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.adapters.store import Store
from escalation_flow.bootstrap import page_backend
from escalation_flow.web import create_app
from escalation_flow.web.settings import WebSettings
from tests.e2e.web_world import PASSWORD, SAFEGUARDING_PUPIL, TODAY, new_world

CHROMIUM = os.environ.get("ESCALATION_FLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)
if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ESCALATION_FLOW_CHROMIUM)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The pages on 127.0.0.1 over a private copy of the world, served by uvicorn in a thread."""
    import uvicorn

    world = new_world(tmp_path_factory.mktemp("browser"))
    store = Store(world.url)
    service = world.service(store)
    app = create_app(lambda: page_backend(service), WebSettings(today=TODAY))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser: Browser, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, locale="en-GB")
    context.set_default_timeout(10_000)
    return context


def _login(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    folder = os.environ.get("ESCALATION_FLOW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # The top of a long page is what a newcomer sees first; the rest repeats it.
        width = page.viewport_size["width"] if page.viewport_size else 1280
        height = min(int(page.evaluate("document.documentElement.scrollHeight")), 2400)
        page.screenshot(
            path=str(Path(folder) / f"{name}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": width, "height": height},
        )


def _labelled(page: Page) -> None:
    """Every visible form field has a name a screen reader can read."""
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.outerHTML)"""
    )
    assert unnamed == []
    assert page.evaluate("document.documentElement.lang") == "en-GB"


def _complete_a_call(page: Page, size: str) -> None:
    task = page.locator("article.task").filter(has=page.get_by_role("button", name="Contact made"))
    first = task.first
    title = first.locator("h3").inner_text()
    first.get_by_text("Add a note").click()
    first.get_by_role("textbox").fill(f"Spoke to mum ({size})")
    first.get_by_role("button", name="Contact made").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded")
    assert title.split(" for ")[0].lower() in page.get_by_role("status").inner_text().lower()


def _read_a_case(page: Page, size: str) -> None:
    page.locator("article.task h3 a").first.click()
    for heading in (
        "What needs doing",
        "Why this happened",
        "Attendance this year",
        "The story so far",
    ):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_role("img", name="Attendance of")).to_be_visible()
    _labelled(page)
    _shot(page, f"case-{size}")


def test_an_attendance_lead_on_a_desktop_completes_a_task_approves_a_letter_reads_a_case(
    server: str, browser: Browser
) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "lead")
    expect(page.get_by_role("heading", name="Overdue", exact=False).first).to_be_visible()
    _labelled(page)
    _shot(page, "tasks-desktop")
    _complete_a_call(page, "desktop")

    page.get_by_role("link", name="Read and approve the letter").first.click()
    expect(page.get_by_role("button", name="Approve this letter")).to_be_visible()
    expect(page.frame_locator("iframe.letter-frame").locator("body")).to_contain_text("Dear")
    _shot(page, "letter-desktop")
    page.get_by_role("button", name="Approve this letter").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    page.get_by_role("button", name="Record as sent").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded")
    expect(page.locator(".steps")).to_contain_text("Sent by lead")

    page.get_by_role("link", name="My tasks").click()
    _read_a_case(page, "desktop")
    context.close()


def test_an_attendance_lead_on_a_phone(server: str, browser: Browser) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    _login(page, server, "lead")
    _shot(page, "tasks-phone")
    _complete_a_call(page, "phone")
    _read_a_case(page, "phone")
    page.get_by_role("link", name="My school").click()
    expect(page.get_by_role("heading", name="Work in the next two weeks")).to_be_visible()
    _shot(page, "school-phone")
    context.close()


def test_dashboards_and_the_plan_for_the_trust_team(server: str, browser: Browser) -> None:
    context = _page(browser, DESKTOP)
    page = context.new_page()
    _login(page, server, "trust")
    page.get_by_role("link", name="Trust overview").click()
    expect(page.get_by_role("table")).to_contain_text("Synthetic School 03")
    _shot(page, "trust-desktop")
    page.get_by_role("link", name="Synthetic School 03").click()
    expect(page.get_by_role("heading", name="Pupils by stage")).to_be_visible()
    _shot(page, "school-desktop")
    page.get_by_role("link", name="how the plan works").click()
    expect(page.get_by_role("img", name="Diagram")).to_be_visible()
    _shot(page, "flow-desktop")
    page.goto(f"{server}/schools/school-03/pupils/{SAFEGUARDING_PUPIL}")
    expect(page.get_by_text("Sibling mentioned a worry at home")).to_be_visible()
    context.close()


def test_a_class_teacher_logs_in_by_keyboard_and_cannot_reach_another_school(
    server: str, browser: Browser
) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    page.goto(f"{server}/login")
    _shot(page, "login-phone")
    # ready to type (autofocus lands when the page has settled: wait for it, on a loaded machine)
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type("teacher")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
    response = page.goto(f"{server}/schools/school-03/pupils/{SAFEGUARDING_PUPIL}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Evie")
    context.close()


def test_the_monthly_notifications_on_a_phone_are_read_and_recorded_sent(
    server: str, browser: Browser
) -> None:
    context = _page(browser, PHONE)
    page = context.new_page()
    _login(page, server, "lead")
    page.get_by_role("link", name="My school").click()
    page.get_by_role("link", name="monthly notifications to the local authority").click()
    page.get_by_label("Month").select_option("2025-09")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("table")).to_contain_text("10 school days, 2025-09-03 to 2025-09-16")
    _labelled(page)
    _shot(page, "la-monthly-phone")
    page.get_by_role("button", name="Record 2025-09 as sent").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded as sent")
    expect(page.get_by_role("table")).to_contain_text("by lead")
    context.close()
