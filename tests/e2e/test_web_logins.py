"""Logins slow guessing without locking staff out: a back-off per account and address, a
generous ceiling per address, no lock, and the administrator's ``users unlock``. Tried through
the real application (Starlette's test client) on a simulated clock, from chosen addresses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import Root, page_backend
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.web.app import create_app
from escalation_flow.web.settings import WebSettings
from tests.daemon_builders import RootedRunner
from tests.e2e.web_client import login, token
from tests.e2e.web_world import NOW, TODAY, TRUST_DIR, World, new_world

OWNER = "10.0.0.5"  # where the member of staff logs in from
ATTACKER = "203.0.113.66"

Pages = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def pages_from(world: World, clock: SimulatedClock) -> Pages:
    """A client from ``address`` on the real application over the world's database."""

    @contextmanager
    def open_pages(address: str, **settings: Any) -> Iterator[TestClient]:
        store = Store(world.url)
        service = world.service(store)
        app = create_app(
            lambda: page_backend(service), WebSettings(today=TODAY, **settings), clock=clock
        )
        try:
            with TestClient(
                app, base_url="https://testserver", follow_redirects=False, client=(address, 5000)
            ) as client:
                yield client
        finally:
            store.dispose()

    return open_pages


def _wrong(client: TestClient, username: str = "lead", times: int = 1) -> list[int]:
    return [login(client, username, "not the password") for _ in range(times)]


def _refused_page(client: TestClient, username: str = "lead") -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "login_token": token(page.text, "login_token"),
            "username": username,
            "password": "correct-horse-battery",
            "next": "/tasks",
        },
    )


def _audit(world: World, action: str) -> list[Any]:
    store = Store(world.url)
    try:
        return StaffStore(store.engine).audit_entries(action=action)
    finally:
        store.dispose()


def test_after_the_free_tries_each_wrong_password_doubles_the_wait(
    pages_from: Pages, clock: SimulatedClock
) -> None:
    with pages_from(OWNER) as client:
        assert _wrong(client, times=3) == [401, 401, 401]
        waiting = _refused_page(client)  # the right password, but too soon
        assert waiting.status_code == 429 and waiting.headers["retry-after"] == "2"
        assert "please wait 2 seconds" in waiting.text and "nothing is locked" in waiting.text
        clock.advance(timedelta(seconds=2))
        assert _wrong(client) == [401]  # the fourth wrong password: now 4 seconds
        assert _refused_page(client).headers["retry-after"] == "4"
        clock.advance(timedelta(seconds=4))
        assert login(client, "lead") == 303


def test_hammering_while_waiting_does_not_lengthen_the_wait(
    pages_from: Pages, clock: SimulatedClock, world: World
) -> None:
    with pages_from(OWNER) as client:
        _wrong(client, times=3)
        assert _wrong(client, times=20) == [429] * 20  # not even checked, not counted
        clock.advance(timedelta(seconds=2))
        assert login(client, "lead") == 303
    assert len(_audit(world, "login_failed")) == 3
    assert len(_audit(world, "login_refused_rate_limit")) == 20


def test_the_wait_never_exceeds_the_cap_so_nobody_is_locked_out(
    pages_from: Pages, clock: SimulatedClock
) -> None:
    with pages_from(OWNER) as client:
        for _ in range(30):  # far past the cap: 2 s doubling reaches 15 minutes at the tenth
            clock.advance(timedelta(minutes=15))
            assert _wrong(client) == [401]
        assert _refused_page(client).headers["retry-after"] == str(15 * 60)
        clock.advance(timedelta(minutes=15))
        assert login(client, "lead") == 303


def test_someone_guessing_from_elsewhere_does_not_slow_the_owner(
    pages_from: Pages, clock: SimulatedClock
) -> None:
    with pages_from(ATTACKER) as attacker:
        for _ in range(12):
            clock.advance(timedelta(minutes=15))
            _wrong(attacker)
        assert _refused_page(attacker).status_code == 429
    with pages_from(OWNER) as owner:
        assert login(owner, "lead") == 303


def test_an_address_past_its_ceiling_waits_whatever_the_account_until_the_window_moves(
    pages_from: Pages, clock: SimulatedClock
) -> None:
    ceiling = {"login_failures_per_address": 6, "login_address_window_minutes": 60}
    with pages_from(ATTACKER, **ceiling) as attacker:
        for username in ("lead", "head", "office", "teacher", "dsl", "trust"):
            assert _wrong(attacker, username) == [401]
            clock.advance(timedelta(minutes=1))
        refused = _refused_page(attacker, "auditor")  # an account it never tried
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(54 * 60)  # the oldest leaves the window
    with pages_from(OWNER, **ceiling) as owner:
        assert login(owner, "auditor") == 303  # other addresses are not affected
    clock.advance(timedelta(minutes=54))
    with pages_from(ATTACKER, **ceiling) as attacker:
        assert login(attacker, "auditor") == 303


def test_a_good_login_starts_the_back_off_afresh(
    pages_from: Pages, clock: SimulatedClock
) -> None:
    with pages_from(OWNER) as client:
        _wrong(client, times=3)
        clock.advance(timedelta(seconds=2))
        assert login(client, "lead") == 303
        assert _wrong(client, times=3) == [401, 401, 401]  # three free tries again


def test_users_unlock_lets_the_member_of_staff_in_at_once_and_is_audited(
    pages_from: Pages,
    clock: SimulatedClock,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pages_from(OWNER) as client:
        for _ in range(12):
            clock.advance(timedelta(minutes=15))
            _wrong(client)
        assert _refused_page(client).status_code == 429
        monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", world.url)
        monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(TRUST_DIR / "trust.yaml"))
        runner: CliRunner = RootedRunner(Root(clock))
        done = runner.invoke(main, ["users", "unlock", "lead"])
        assert done.exit_code == 0, done.output
        assert "lead can log in again now (12 wrong passwords no longer count)" in done.output
        assert login(client, "lead") == 303
    [entry] = _audit(world, "login_unlocked")
    assert entry.detail == "lead: 12 wrong passwords"
    assert len(_audit(world, "login_failed")) == 12  # the audit log keeps every wrong password


def test_users_unlock_names_an_unknown_account(
    world: World, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", world.url)
    monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(TRUST_DIR / "trust.yaml"))
    result = RootedRunner(Root(clock)).invoke(main, ["users", "unlock", "nobody"])
    assert result.exit_code == 2 and "no member of staff 'nobody'" in result.output


def test_wrong_passwords_sent_all_at_once_are_checked_no_faster_than_one_by_one(
    pages_from: Pages,
) -> None:
    """Tries for one account from one address are taken in turn: twelve sent together get three
    password checks, the rest are told to wait (checked in parallel, all twelve got through)."""
    from concurrent.futures import ThreadPoolExecutor

    with pages_from(ATTACKER) as client:
        tokens = [token(client.get("/login").text, "login_token") for _ in range(12)]

        def attempt(login_token: str) -> int:
            data = {"login_token": login_token, "username": "lead", "password": "wrong", "next": "/"}
            return client.post("/login", data=data).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(attempt, tokens))
    assert sorted(codes) == [401] * 3 + [429] * 9, codes
