"""Single sign-on against a real OpenID provider (oidc-provider on Node.js), the authorisation code
flow driven with httpx: a member of staff signs in and gets the session a password login gets;
a wrong audience, an expired token, a wrong nonce, a replayed or stolen callback and an unknown
person are refused; a rotated signing key is fetched and the sign-in succeeds.

Skipped, saying why, without Node.js and npm (``.ci/run`` installs the provider's packages).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import page_backend
from escalation_flow.clock import SystemClock
from escalation_flow.web import create_app
from escalation_flow.web.settings import WebSettings
from tests.e2e.oidc_harness import (
    APP_BASE,
    STAFF_EMAILS,
    Provider,
    callback_url,
    new_key,
    running_provider,
    sign_in,
)
from tests.e2e.web_world import TODAY, World, new_world


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = new_world(tmp_path)
    store = Store(world.url)
    try:
        staff = StaffStore(store.engine)
        for username, email in STAFF_EMAILS.items():
            staff.set_email(username, email)
    finally:
        store.dispose()
    return world


@contextmanager
def pages(world: World, provider: Provider, **settings: Any) -> Iterator[TestClient]:
    """The pages on the real clock (the provider's tokens carry today's times)."""
    store = Store(world.url)
    service = world.service(store)
    web = WebSettings(today=TODAY, **{**provider.settings(), **settings})
    app = create_app(lambda: page_backend(service), web, clock=SystemClock())
    try:
        with TestClient(app, base_url=APP_BASE, follow_redirects=False) as client:
            yield client
    finally:
        store.dispose()


def audit(world: World, action: str) -> list[Any]:
    store = Store(world.url)
    try:
        return StaffStore(store.engine).audit_entries(action=action)
    finally:
        store.dispose()


def staff_row(world: World, username: str) -> Any:
    store = Store(world.url)
    try:
        return StaffStore(store.engine).by_username(username)
    finally:
        store.dispose()


def test_a_member_of_staff_signs_in_and_gets_the_session_a_password_login_gets(
    world: World, provider: Provider
) -> None:
    with pages(world, provider) as app:
        answer = sign_in(app, "alex", "/schools")
        assert answer.status_code == 303 and answer.headers["location"] == "/schools"
        assert "ef_session" in answer.cookies
        tasks = app.get("/tasks")
        assert tasks.status_code == 200 and "Alex Morgan" in tasks.text
    assert staff_row(world, "lead").oidc_subject == "alex"
    [entry] = audit(world, "sso_login")
    assert (entry.actor, entry.detail) == ("lead", "linked at this first sign-in")


def test_a_later_sign_in_must_carry_the_linked_subject_not_just_the_email(
    world: World, provider: Provider
) -> None:
    """Once linked, the record belongs to that subject: another account with the same (even
    verified) email is refused; the linked one still comes in."""
    with pages(world, provider) as app:
        assert sign_in(app, "alex").status_code == 303
    with pages(world, provider) as app:
        refused = sign_in(app, "impostor")
        assert refused.status_code == 403 and "linked to a different" in refused.text
        assert "ef_session" not in refused.cookies
    with pages(world, provider) as app:
        assert sign_in(app, "alex").status_code == 303
    assert [e.detail for e in audit(world, "sso_refused")] == [
        "the staff record is linked to another account"
    ]


def test_a_person_with_no_staff_record_is_refused_with_a_page_saying_whom_to_ask(
    world: World, provider: Provider
) -> None:
    with pages(world, provider) as app:
        refused = sign_in(app, "stranger")
        assert refused.status_code == 403
        assert "No staff record here" in refused.text
        assert "ask your school" in refused.text.lower() and "attendance lead" in refused.text
        # no token and nothing from it on the page, and no session
        assert "stranger@" not in refused.text and "eyJ" not in refused.text
        assert "ef_session" not in refused.cookies
        assert app.get("/tasks").status_code == 303
    [entry] = audit(world, "sso_refused")
    assert (entry.actor, entry.detail) == (
        "stranger@elsewhere.example",
        "no staff record has this email",
    )


def test_an_email_the_provider_does_not_vouch_for_matches_nobody(
    world: World, provider: Provider
) -> None:
    with pages(world, provider) as app:
        refused = sign_in(app, "unverified")
    assert refused.status_code == 403 and "did not confirm the email" in refused.text
    assert staff_row(world, "head").oidc_subject is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"claims": {"aud": "someone-else"}}, "id token: wrong audience"),
        ({"claims": {"aud": ["escalation-flow", "someone-else"]}}, "id token: several audiences"),
        ({"exp_offset": -180}, "id token: expired"),
        ({"claims": {"nonce": "another sign-in's"}}, "id token: nonce is not this sign-in's"),
        ({"claims": {"iss": "http://127.0.0.1:1"}}, "id token: wrong issuer"),
        ({"key": new_key("never-published")}, "id token: signed with key 'never-published'"),
    ],
    ids=["wrong-audience", "foreign-azp", "expired", "wrong-nonce", "wrong-issuer", "unknown-key"],
)
def test_an_id_token_that_fails_a_check_is_refused(
    world: World, provider: Provider, change: dict[str, Any], why: str
) -> None:
    with pages(world, provider) as app:
        provider.next_id_token(**change)
        refused = sign_in(app, "alex")
        assert refused.status_code == 400
        assert "could not be checked" in refused.text and "ef_session" not in refused.cookies
    [entry] = audit(world, "sso_refused")
    assert entry.detail.startswith(why)
    assert staff_row(world, "lead").oidc_subject is None


def test_a_token_expired_within_the_stated_clock_skew_is_accepted(
    world: World, provider: Provider
) -> None:
    """The skew allowed is 60 s by default: a token 20 s past its expiry still signs in."""
    with pages(world, provider) as app:
        provider.next_id_token(exp_offset=-20)
        assert sign_in(app, "alex").status_code == 303


def test_a_replayed_callback_is_refused_and_opens_no_session(
    world: World, provider: Provider
) -> None:
    with pages(world, provider) as app:
        url = callback_url(app, "alex")
        browser = app.cookies["ef_sso"]
        assert app.get(url).status_code == 303
        app.cookies.clear()
        app.cookies.set("ef_sso", browser)  # the same browser, the same redirect, again
        again = app.get(url)
        assert again.status_code == 400 and "Sign-in expired" in again.text
        assert "ef_session" not in again.cookies
    assert len(audit(world, "sso_login")) == 1


def test_a_callback_finished_in_another_browser_is_refused(
    world: World, provider: Provider
) -> None:
    """The state is bound to the browser that began the sign-in (its ``ef_sso`` cookie); the
    stolen redirect does not use it up, so the browser that began it still finishes."""
    with pages(world, provider) as app:
        url = callback_url(app, "alex")
        browser = app.cookies["ef_sso"]
        app.cookies.clear()
        app.cookies.set("ef_sso", "another browser's")
        stolen = app.get(url)
        assert stolen.status_code == 400 and "Sign-in expired" in stolen.text
        assert staff_row(world, "lead").oidc_subject is None
        app.cookies.clear()
        app.cookies.set("ef_sso", browser)
        assert app.get(url).status_code == 303


def test_a_sign_in_the_provider_refused_says_so(world: World, provider: Provider) -> None:
    with pages(world, provider) as app:
        start = app.get("/login/sso")
        state = re.search(r"[?&]state=([^&]+)", start.headers["location"])
        assert state is not None
        answer = app.get(f"/login/sso/callback?error=access_denied&state={state.group(1)}")
    assert answer.status_code == 400 and "did not finish" in answer.text
    assert audit(world, "sso_refused")[0].detail == "provider said access_denied"


def test_a_rotated_signing_key_is_fetched_and_the_next_sign_in_succeeds(
    world: World, provider: Provider
) -> None:
    """The pages hold the provider's JWKS from the first sign-in; the provider then signs with
    a new key (publishing the old one beside it): the unknown ``kid`` makes the pages fetch the
    JWKS again, once, and the sign-in goes through."""
    old = provider.keys
    try:
        with pages(world, provider) as app:
            assert sign_in(app, "alex").status_code == 303
            provider.restart([new_key("key-2"), *old])
            app.cookies.clear()
            again = sign_in(app, "alex")
            assert again.status_code == 303 and "ef_session" in again.cookies
    finally:
        provider.restart(old)
    assert len(audit(world, "sso_login")) == 2


def test_with_passwords_switched_off_only_single_sign_on_lets_anyone_in(
    world: World, provider: Provider
) -> None:
    with pages(world, provider, password_login=False) as app:
        page = app.get("/login")
        assert "Sign in with 127.0.0.1" in page.text and 'name="password"' not in page.text
        tried = app.post("/login", data={"username": "lead", "password": "x" * 12})
        assert tried.status_code == 403 and "ef_session" not in tried.cookies
        assert sign_in(app, "alex").status_code == 303
    assert len(audit(world, "login_refused_passwords_off")) == 1


def test_a_provider_that_cannot_be_reached_gets_a_page_not_a_traceback(tmp_path: Path) -> None:
    """No Node.js needed: the issuer is a closed port."""
    from tests.e2e.web_client import pages as plain_pages

    closed = {"oidc_issuer": "http://127.0.0.1:9", "oidc_client_id": "ef",
              "oidc_client_secret": "s" * 20}  # fmt: skip
    world = new_world(tmp_path)
    with plain_pages(world, **closed) as app:
        answer = app.get("/login/sso")
        assert answer.status_code == 502 and "did not finish" in answer.text
        assert "Traceback" not in answer.text and "ef_sso" not in answer.cookies
    [entry] = audit(world, "sso_refused")
    assert "could not be reached" in entry.detail


def test_unauthenticated_sign_in_requests_do_not_flood_the_audit_log(tmp_path: Path) -> None:
    """No Node.js needed. Callbacks with states nobody began touch no account: no audit row.
    A provider that is down is asked once, and audited once, not on every ``/login/sso``."""
    from tests.e2e.web_client import pages as plain_pages

    closed = {"oidc_issuer": "http://127.0.0.1:9", "oidc_client_id": "ef",
              "oidc_client_secret": "s" * 20}  # fmt: skip
    world = new_world(tmp_path)
    with plain_pages(world, **closed) as app:
        for n in range(5):
            bogus = app.get(f"/login/sso/callback?state={n}&error=" + "S01-P0007" * 10)
            assert bogus.status_code == 400 and "Sign-in expired" in bogus.text
        starts = [app.get("/login/sso") for _ in range(5)]
    assert {s.status_code for s in starts} == {502}
    assert all("did not finish" in s.text for s in starts)
    [entry] = audit(world, "sso_refused")  # the provider's first failure, and nothing else
    assert "could not be reached" in entry.detail


def test_an_error_the_provider_did_not_register_is_logged_as_unrecognised(
    world: World, provider: Provider
) -> None:
    with pages(world, provider) as app:
        start = app.get("/login/sso")
        state = re.search(r"[?&]state=([^&]+)", start.headers["location"])
        assert state is not None
        made_up = "call 07700900248 about S01-P0007"
        answer = app.get(f"/login/sso/callback?error={made_up}&state={state.group(1)}")
    assert answer.status_code == 400 and "did not finish" in answer.text
    [entry] = audit(world, "sso_refused")
    assert entry.detail == "provider said unrecognised"
