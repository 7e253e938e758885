"""Single sign-on in a real browser: Chromium (through Playwright) goes from the log-in page to a
real OpenID provider (oidc-provider on Node.js), signs in there, and comes back to the pages
signed in; a person with no staff record comes back to a page that says so.

Skipped, saying why, without Playwright, Chromium, Node.js or npm (``.ci/run`` installs them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import page_backend
from escalation_flow.clock import SystemClock
from escalation_flow.web import create_app
from escalation_flow.web.settings import WebSettings
from tests.e2e.oidc_harness import (
    ACCOUNT_PASSWORD,
    STAFF_EMAILS,
    Provider,
    free_port,
    new_key,
    node_ready,
)
from tests.e2e.test_web_browser import ARGS, CHROMIUM, DESKTOP
from tests.e2e.web_world import TODAY, new_world

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)
if not (Path(CHROMIUM).exists()):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The pages on 127.0.0.1 with single sign-on through a provider started beside them."""
    import uvicorn

    node_ready()
    world = new_world(tmp_path_factory.mktemp("sso-browser"))
    store = Store(world.url)
    for username, email in STAFF_EMAILS.items():
        StaffStore(store.engine).set_email(username, email)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider = Provider(free_port(), [new_key("key-1")], redirect_uri=f"{base}/login/sso/callback")
    provider.start()
    settings = WebSettings(
        today=TODAY, **{**provider.settings(), "oidc_redirect_base": base}  # type: ignore[arg-type]
    )
    service = world.service(store)
    app = create_app(lambda: page_backend(service), settings, clock=SystemClock())
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        provider.stop()
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _sign_in(browser: Browser, server: str, account: str) -> Page:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server}/login")
    page.get_by_role("link", name="Sign in with 127.0.0.1").click()
    expect(page.get_by_role("heading", name="Test provider")).to_be_visible()
    page.get_by_label("Account").fill(account)
    page.get_by_label("Password").fill(ACCOUNT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_a_teacher_signs_in_with_their_school_account_in_a_browser(
    browser: Browser, server: str
) -> None:
    page = _sign_in(browser, server, "jo")
    expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
    expect(page.get_by_text("Jo Evans")).to_be_visible()
    assert page.url.startswith(f"{server}/tasks")
    page.context.close()


def test_a_stranger_comes_back_to_a_page_saying_there_is_no_staff_record(
    browser: Browser, server: str
) -> None:
    page = _sign_in(browser, server, "stranger")
    expect(page.get_by_role("heading", name="No staff record here")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the log-in page")).to_be_visible()
    page.goto(f"{server}/tasks")
    expect(page.get_by_role("heading", name="Log in", exact=True)).to_be_visible()
    page.context.close()
