"""``/healthz``, ``/readyz`` and ``/metrics`` on the staff pages, as a load balancer, the IT team's
monitoring and Prometheus read them: no login; readiness naming each failing check (the
database, its schema, a school whose evening is overdue); metrics that move with the work and
carry no pupil's id."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.schema import head_revision
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.bootstrap import page_backend
from escalation_flow.notify import notify
from escalation_flow.readiness import last_closed_day, readiness
from escalation_flow.service import Service
from escalation_flow.web import create_app
from escalation_flow.web.settings import WebSettings
from tests.daemon_builders import SCHOOL, built_state, evening_clock, local
from tests.e2e.web_world import SCHOOLS, TODAY, World, new_world, sample_trust

OTHER_SCHOOLS = ("school-02", "school-04", "school-05")  # the world evaluates only SCHOOLS


@contextmanager
def pages(world: World, store: Store | None = None) -> Iterator[TestClient]:
    store = store or Store(world.url)
    service = world.service(store)
    app = create_app(lambda: page_backend(service), WebSettings(today=TODAY))
    try:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            yield client
    finally:
        store.dispose()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed as Prometheus parses it: ``{(name, labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def every_school_evaluated(world: World) -> None:
    """The schools the world left out evaluated on its last day, as the daemon would have."""
    store = Store(world.url)
    try:
        service = world.service(store)
        for school in OTHER_SCHOOLS:
            service.run_day(school, TODAY)
    finally:
        store.dispose()


def test_healthz_answers_without_a_login(world: World) -> None:
    with pages(world) as client:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"
    assert response.headers["cache-control"] == "no-store"


def test_readyz_is_200_when_the_database_schema_and_every_evening_are_current(
    world: World,
) -> None:
    every_school_evaluated(world)
    with pages(world) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["failing"] == []
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "evenings": True,
    }


def test_readyz_names_each_school_whose_evening_is_overdue(world: World) -> None:
    with pages(world) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["failing"] == ["evenings"]
    overdue = body["checks"]["evenings"]["overdue"]
    assert [o["school"] for o in overdue] == list(OTHER_SCHOOLS)
    assert {o["due"] for o in overdue} == {TODAY.isoformat()}
    assert {o["last_evening"] for o in overdue} == {None}
    assert "is the daemon running?" in body["checks"]["evenings"]["detail"]


def test_readyz_says_the_database_does_not_answer_and_checks_nothing_after_it(
    world: World,
) -> None:
    # nothing listens on port 1: refused at once (a SQLite file would be created, not missed)
    gone = Store("postgresql+psycopg://escalation@127.0.0.1:1/gone?connect_timeout=5")
    with pages(world, gone) as client:
        response = client.get("/readyz")
        healthz = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "migrations", "evenings"]
    assert "does not answer" in body["checks"]["database"]["detail"]
    assert body["checks"]["migrations"]["skipped"] is True
    assert "127.0.0.1" not in response.text, "no server address to an unauthenticated caller"
    assert healthz.status_code == 200, "the process is up: restarting it would not help"


def test_readyz_says_the_schema_is_behind_and_how_to_bring_it_up(world: World) -> None:
    head = head_revision()
    assert head is not None
    behind = f"{int(head) - 1:04d}"
    with sqlite3.connect(world.path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (behind,))
    with pages(world) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations", "evenings"]
    detail = body["checks"]["migrations"]["detail"]
    assert f"at revision {behind}" in detail and "escalation-flow db upgrade" in detail


def test_metrics_move_with_requests_and_carry_route_templates_not_pupils(world: World) -> None:
    pupil_page = "/schools/{school}/pupils/{pupil}"
    key = (
        "escalation_flow_http_request_duration_seconds_count",
        (("method", "GET"), ("route", pupil_page), ("status", "303")),
    )
    evening = ("escalation_flow_last_evening_day_timestamp_seconds", (("school", "school-02"),))
    with pages(world) as client:
        before = samples(client.get("/metrics").text)
        client.get("/schools/school-01/pupils/S01-P0007")  # no login: sent to the login page
        client.get("/schools/school-01/pupils/S01-P0019")
        every_school_evaluated(world)  # the daemon's evenings, in another process
        text = client.get("/metrics").text
    after = samples(text)
    assert before.get(key, 0) == 0 and after[key] == 2
    assert evening not in before
    assert after[evening] == datetime.combine(TODAY, time(0), UTC).timestamp()
    assert "S01-P" not in text, "a pupil's id in a metric's label"
    store = Store(world.url)
    try:
        status = Service(store, sample_trust(), world.service().clock).status()
    finally:
        store.dispose()
    assert after[("escalation_flow_timers_pending", ())] == status.pending_timers
    assert after[("escalation_flow_timers_overdue", ())] == len(status.overdue_timers)
    evaluated = {
        dict(labels)["school"]
        for (name, labels) in after
        if name == "escalation_flow_last_evening_day_timestamp_seconds"
    }
    assert evaluated == {*SCHOOLS, *OTHER_SCHOOLS}


# -- the parts ------------------------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("at", "due"),
    [
        (datetime(2025, 10, 10, 14, 0, tzinfo=LONDON), date(2025, 10, 9)),  # before the close
        (datetime(2025, 10, 10, 16, 0, tzinfo=LONDON), date(2025, 10, 10)),  # at the close
        (datetime(2025, 10, 11, 12, 0, tzinfo=LONDON), date(2025, 10, 10)),  # a Saturday
        (
            datetime(2025, 10, 27, 9, 0, tzinfo=LONDON),
            date(2025, 10, 23),
        ),  # half term, an INSET day
        (datetime(2025, 9, 1, 9, 0, tzinfo=LONDON), None),  # before the calendar
        (datetime(2025, 10, 10, 14, 59, tzinfo=UTC), date(2025, 10, 9)),  # 15:59 in London
    ],
)
def test_the_evening_due_is_the_latest_school_day_whose_registers_closed(
    at: datetime, due: date | None
) -> None:
    calendar = sample_trust().calendar("school-01")
    assert last_closed_day(calendar, LONDON, time(16, 0), at) == due


def test_notify_sends_one_datagram_to_the_socket_systemd_names(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert notify("READY=1", {"NOTIFY_SOCKET": str(path)}) is True
        assert sock.recv(100) == b"READY=1"
    assert notify("READY=1", {}) is False, "no service manager: nothing to tell"
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


# -- on every database --------------------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_readiness_reads_the_schema_and_the_evenings_on_every_database(
    backend: str, tmp_path: Path
) -> None:
    """One school evaluated up to its last day: ready that evening; not on the next school
    day's evening (the daemon missed it); not with the schema a revision behind."""
    states = built_state(backend, tmp_path)
    url = next(states)
    store = Store(url)
    trust = load_trust(tmp_path / "trust.yaml")
    clock = evening_clock()
    try:
        service = Service(store, trust, clock)
        margin = timedelta(minutes=60)
        assert readiness(service, margin).ready
        clock.set(local(date(2025, 9, 15), 19))  # Monday: Friday's was the last evening run
        found = readiness(service, margin)
        assert found.failing == ["evenings"]
        assert found.checks[-1].overdue == ({"school": SCHOOL, "last_evening": "2025-09-12",
                                            "due": "2025-09-15"},)  # fmt: skip
        head = head_revision()
        assert head is not None
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{int(head) - 1:04d}'")
        assert readiness(service, margin).failing == ["migrations", "evenings"]
    finally:
        store.dispose()
        next(states, None)  # drops a PostgreSQL database


# -- what a client cannot put in the scrape --------------------------------------------------------


def test_metrics_label_unknown_methods_as_other_and_unmatched_paths_as_one_route(
    world: World,
) -> None:
    with pages(world) as client:
        for n in range(5):
            client.request(f"X{n}-S01-P0007", "/healthz")  # a method named like a pupil id
            client.request("GARBAGE", f"/no/such/page/{n}")
            client.get(f"/S01-P00{n}")
        text = client.get("/metrics").text
    found = samples(text)
    methods = {
        dict(labels)["method"]
        for (name, labels) in found
        if name == "escalation_flow_http_request_duration_seconds_count"
    }
    routes = {
        dict(labels)["route"]
        for (name, labels) in found
        if name == "escalation_flow_http_request_duration_seconds_count"
    }
    assert methods == {"GET", "other"}
    assert "S01-P" not in text and "GARBAGE" not in text and "/no/such" not in text
    assert routes == {"/healthz", "unmatched"}


def test_readyz_reads_the_code_s_head_revision_once_per_process(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import escalation_flow.readiness as readiness_module

    reads: list[None] = []

    def counted() -> str | None:
        reads.append(None)
        return head_revision()

    monkeypatch.setattr(readiness_module, "head_revision", counted)
    readiness_module.code_head.cache_clear()
    try:
        with pages(world) as client:
            answers = [client.get("/readyz").json() for _ in range(3)]
    finally:
        readiness_module.code_head.cache_clear()
    assert len(reads) == 1
    assert all(a["checks"]["migrations"]["ok"] for a in answers)
