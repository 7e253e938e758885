"""The data protection officer's retention page over the seven-year trust: what is due, what
is kept and why, the holds and the runs; nobody else reads it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.retention import SqlRetention
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.bootstrap import page_backend
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant, ServiceRole
from escalation_flow.core.definition import Role
from escalation_flow.service import Service
from escalation_flow.service.retention import Retention
from escalation_flow.web.app import create_app
from escalation_flow.web.passwords import hash_password
from escalation_flow.web.settings import WebSettings
from tests.e2e.web_client import login
from tests.retention_builders import SCHOOL, TODAY, build, instant

PASSWORD = "correct-horse-battery"
POLICY = "  registers_years: 6\n  closed_cases_years: 6\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Trust]:
    folder = tmp_path_factory.mktemp("retention-page")
    url = f"sqlite:///{folder / 'db.sqlite'}"
    trust = build(url, folder, POLICY)
    store = Store(url)
    try:
        staff = StaffStore(store.engine)
        secret = hash_password(PASSWORD)
        staff.add_staff(
            "officer",
            "Dana Officer",
            secret,
            [Grant(ServiceRole.DATA_PROTECTION_OFFICER, None)],
            instant(TODAY),
        )
        staff.add_staff("lead", "Lee Lead", secret, [Grant(Role.ATTENDANCE_LEAD, SCHOOL)],
                        instant(TODAY))  # fmt: skip
        clock = SimulatedClock(instant(TODAY))
        desk = Retention(SqlRetention(store.engine), trust, clock)
        desk.hold(SCHOOL, "P03", "prosecution pending", "officer")
        desk.apply("officer", dry_run=False)
    finally:
        store.dispose()
    return url, trust


@contextmanager
def client(world: tuple[str, Trust]) -> Iterator[TestClient]:
    url, trust = world
    store = Store(url)
    service = Service(store, trust, SimulatedClock(instant(TODAY)), worker="test")
    app = create_app(lambda: page_backend(service), WebSettings(today=TODAY))  # type: ignore[arg-type]
    try:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
            yield c
    finally:
        store.dispose()


def test_the_officer_sees_what_is_kept_and_why_the_holds_and_the_runs(
    world: tuple[str, Trust],
) -> None:
    with client(world) as c:
        assert login(c, "officer", PASSWORD) == 303
        page = c.get("/retention")
        assert page.status_code == 200
        assert "Nothing is due for erasure." in page.text  # the run took it all
        assert "P04 (case): open: an open case is never erased" in page.text
        assert "prosecution pending" in page.text and "P03 (marks)" in page.text
        assert 'id="runs"' in page.text and "officer" in page.text


def test_nobody_else_reads_it(world: tuple[str, Trust]) -> None:
    with client(world) as c:
        assert login(c, "lead", PASSWORD) == 303
        assert c.get("/retention").status_code == 403
