"""A repeating timer (``every:``) on every store: armed again after each firing, stored as a new
pending timer, fired once per due time however many workers try (issue 11 part 3, item 2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.memory import MemoryStore
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.cli.tasks import task_table
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from tests.daemon_builders import HEADER, ROOT, local, postgres_admin_url

SHAPE = ROOT / "tests" / "data" / "cookbook" / "shape_timers.yaml"
SCHOOL = "rep"
BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def write_trust(folder: Path) -> Trust:
    calendars = ROOT / "config" / "calendars"
    path = folder / "trust.yaml"
    path.write_text(
        f"""name: test-trust
timezone: Europe/London
schools:
  - id: {SCHOOL}
    name: Repeat Test Primary
    urn: "990009"
    flow: {SHAPE}
    calendars: [{calendars / "england-2025-26.yaml"}, {calendars / "england-2026-27.yaml"}]
    address: ["1 Oak Lane", "Oakham OK1 1AA"]
    phone: "01632 960 001"
    email: office@example.org
    attendance_contact: {{name: Mrs A. Test, role: Attendance Lead}}
    signatory: {{name: Mr B. Test, role: Head Teacher}}
""",
        encoding="utf-8",
    )
    return load_trust(path)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    for url in _database(request.param, tmp_path):
        sql = Store(url)
        sql.migrate()
        try:
            yield sql
        finally:
            sql.dispose()


def _database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database for the test: a SQLite file, or a PostgreSQL database dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'rep.sqlite'}"
        return
    import uuid

    import sqlalchemy as sa

    admin = postgres_admin_url()
    name = f"ef_rep_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


def run(service: Service, clock: SimulatedClock, folder: Path, days: list[date]) -> None:
    """Each day: P1 absent in the morning (so below 95%), the register imported at 17:00, due
    timers fired at 08:05 by two workers, the day evaluated at 18:00."""
    other = Root(clock).build_service(service.store, service.trust, worker="other")
    for day in days:
        clock.set(local(day, 8, 5))
        service.fire_due_timers()
        other.fire_due_timers()
        rows = [HEADER]
        for pupil, am in (("P1", "O"), ("P2", "/")):
            rows.append(f"{SCHOOL},{pupil},{day},AM,{am},,{local(day, 9, 5).isoformat()}")
            rows.append(f"{SCHOOL},{pupil},{day},PM,\\,,{local(day, 13, 10).isoformat()}")
        path = folder / f"marks-{day}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        clock.set(local(day, 17))
        result = read_marks(path, service.trust.calendars(), aliases=service.trust.aliases)
        service.store.import_marks(result, file=path, now=clock.now(), by="test")
        clock.set(local(day, 18))
        service.run_day(SCHOOL, day)


def test_a_repeating_timer_is_stored_again_after_each_firing_and_fires_once(
    store: Any, tmp_path: Path
) -> None:
    trust = write_trust(tmp_path)
    clock = SimulatedClock(local(date(2025, 9, 3), 7))
    store.upsert_schools(trust)
    service = Root(clock).build_service(store, trust, worker="test")
    calendars = ROOT / "config" / "calendars"
    calendar = load_calendar([calendars / "england-2025-26.yaml", calendars / "england-2026-27.yaml"])
    days = [d for d in calendar.school_days if date(2025, 9, 3) <= d <= date(2025, 11, 7)]
    run(service, clock, tmp_path, days)
    case = service.case(SCHOOL, "P1")
    fired = [h for h in case.history if h.type == "timer_fired" and h.event["timer"] == "contact"]
    armed = [h for h in case.history if h.type == "timer_armed" and h.event["timer"] == "contact"]
    calls = [h for h in case.history if h.type == "task_created" and h.event["task"] == "family_contact"]
    assert len(fired) >= 2
    assert len(calls) == len(fired)  # one call per firing, though two workers fired each day
    assert len({h.event["timer_key"] for h in fired}) == len(fired)
    pending = [t for t in case.pending_timers if t.timer == "contact"]
    assert len(pending) == 1  # the next fortnight's, stored pending
    assert pending[0].key == armed[-1].event["timer_key"]
    assert pending[0].rule == "2 school weeks (repeating)"


def test_a_school_duty_is_one_task_for_its_role_listing_the_cases_it_covers(
    store: Any, tmp_path: Path
) -> None:
    trust = write_trust(tmp_path)
    clock = SimulatedClock(local(date(2025, 9, 3), 7))
    store.upsert_schools(trust)
    service = Root(clock).build_service(store, trust, worker="test")
    calendars = ROOT / "config" / "calendars"
    calendar = load_calendar([calendars / "england-2025-26.yaml"])
    days = [d for d in calendar.school_days if date(2025, 9, 3) <= d <= date(2025, 10, 8)]
    run(service, clock, tmp_path, days)
    duties = [t for t in service.tasks(SCHOOL) if t.task == "weekly_support_check"]
    # one open for the week (last week's lapsed when this one was made), for the school
    (duty,) = duties
    assert (duty.pupil, duty.role, duty.covers) == ("", "family_liaison_officer", ("P1",))
    assert duty.created_on == date(2025, 10, 6)  # the week's first school day
    assert "covers 1: P1" in task_table(service.tasks(SCHOOL, role="family_liaison_officer"))
