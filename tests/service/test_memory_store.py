"""The memory store itself: it writes what the SQL store writes (the same records, hashes,
tasks and timers for the same days on the same clock), implements the service's ports, and
keeps a unit of work only when it ends well and no other was kept meanwhile."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from escalation_flow.adapters.memory import MemoryStore, service_store
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.errors import ConflictError
from escalation_flow.service import Service
from tests.daemon_builders import SCHOOL, built_state, evening_clock, write_trust
from tests.service.conftest import STAFF, memory_state
from tests.staff_builders import add_staff
from tests.test_architecture import imports_of, offending

MONDAY = date(2025, 9, 15)  # a school day the built state has not evaluated


def what_it_holds(service: Service) -> tuple[object, ...]:
    lines = service.case_lines(SCHOOL)
    cases = [service.case(SCHOOL, line.pupil) for line in lines]
    letters = [service.letter(i) for i in (1, 2)]
    with service.ctx.store.read() as tx:
        timers = [
            (
                t.key,
                t.status,
                t.due,
                t.fire_at,
                t.armed_at,
                t.fired_at,
                t.late_seconds,
                t.claimed_by,
            )
            for c in cases
            for t in tx.case_timers(c.case_id)
        ]
    return (
        timers,
        lines,
        [(c.history, c.open_tasks, c.pending_timers, c.case_id) for c in cases],
        service.tasks(SCHOOL),
        [(v.status, v.html, v.approved_by, v.approved_at, v.sent_by, v.sent_at) for v in letters],
        service.last_evaluated_days(),
        service.status(),
    )


def act(service: Service, clock: SimulatedClock) -> None:
    """The same staff steps and timer on either store: override, meeting, review, letter."""
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    meeting = next(t.id for t in service.tasks(SCHOOL) if t.task == "attendance_meeting")
    service.complete_task(meeting, "held", by="s.one")
    (timer,) = service.case(SCHOOL, "P2").pending_timers
    clock.set(timer.fire_at + timedelta(minutes=3))
    assert len(service.fire_due_timers()) == 1
    letter = next(t for t in service.tasks(SCHOOL) if t.pupil == "P1" and t.letter_id)
    assert letter.letter_id is not None
    service.approve_letter(letter.letter_id, by="s.head")
    service.complete_task(letter.id, "sent", by="s.one")


def test_the_memory_store_holds_what_sqlite_holds_after_the_same_days_and_actions(
    tmp_path: Path,
) -> None:
    """Records, hashes, ids, tasks, timers and letters alike: the memory store is a faithful
    stand-in for the service's tests."""
    memory = memory_state(tmp_path / "memory")
    trust = load_trust(write_trust(tmp_path / "trust"))
    for url in built_state("sqlite", tmp_path / "sqlite"):
        add_staff(url, *STAFF)
        sql = Store(url)
        try:
            clock = evening_clock()
            on_sqlite = Root(clock).build_service(sql, trust)
            act(on_sqlite, clock)
            expected = what_it_holds(on_sqlite)
        finally:
            sql.dispose()
    clock = evening_clock()
    in_memory = Root(clock).build_service(memory, trust)
    act(in_memory, clock)
    held = what_it_holds(in_memory)
    assert held == expected
    assert held[0] and held[1] and held[2]  # there were timers and cases to compare


def test_a_memory_store_is_a_service_store() -> None:
    store = MemoryStore()
    assert service_store(store) is store


def test_a_unit_of_work_is_refused_when_another_was_kept_while_it_ran(tmp_path: Path) -> None:
    store = memory_state(tmp_path)
    now = evening_clock().now()
    with pytest.raises(ConflictError, match="nothing was written"), store.begin() as slow:
        with store.begin() as quick:
            quick.record_school_day(1, MONDAY, now, 0, "quick")
        slow.record_school_day(1, MONDAY, now, 0, "slow")
    with store.read() as tx:
        assert tx.evaluated(1, MONDAY).worker == "quick"


def test_what_is_written_through_a_read_is_not_kept(tmp_path: Path) -> None:
    store = memory_state(tmp_path)
    with store.read() as tx:
        tx.record_school_day(1, MONDAY, evening_clock().now(), 0, "reader")
        assert tx.evaluated(1, MONDAY) is not None
    with store.read() as tx:
        assert tx.evaluated(1, MONDAY) is None


def test_the_memory_store_needs_no_database_library_nor_the_sql_store() -> None:
    found = imports_of("adapters/memory")
    assert found and not offending(found, ("sqlalchemy", "escalation_flow.adapters.store"))
