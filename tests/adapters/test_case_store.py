"""The daemon's store and service, one contract for SQLite and PostgreSQL: school days evaluated
once, the history as the backtest decides it and hash-chained, timers fired once, staff actions
recorded once or refused whole, letters approved before they are sent, instants from the clock.

PostgreSQL runs when ESCALATION_FLOW_TEST_POSTGRES_URL names a server: each test gets a database
cloned from a template built once per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, cases
from escalation_flow.adapters.store.cases import fold_case, load_cases
from escalation_flow.adapters.store.timers import claim_timer
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.backtest import Period, SchoolRun, run_school
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.marks import MarkTable
from escalation_flow.errors import ActionError, ConflictError, NotFoundError
from escalation_flow.service import Service
from tests.daemon_builders import (
    DAYS,
    EVENING_TABLES,
    LAST_DAY,
    SCHOOL,
    built_state,
    clone,
    day_marks,
    evening_clock,
    local,
    write_trust,
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from built_state(request.param, tmp_path_factory.mktemp(f"daemon-{request.param}"))


@pytest.fixture
def clock() -> SimulatedClock:
    return evening_clock()


@pytest.fixture
def service(template: str, tmp_path: Path, clock: SimulatedClock) -> Iterator[Service]:
    for url in clone(template, tmp_path):
        store = Store(url)
        trust = load_trust(write_trust(tmp_path / "trust"))
        try:
            yield Service(store, trust, clock, worker="test")
        finally:
            store.dispose()


def counts(service: Service) -> dict[str, int]:
    with service.store.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in EVENING_TABLES}


def task_id(service: Service, pupil: str, task: str) -> int:
    return next(t.id for t in service.tasks(SCHOOL) if t.pupil == pupil and t.task == task)


def test_running_a_school_day_again_changes_nothing(service: Service) -> None:
    before = counts(service)
    report = service.run_day(SCHOOL, LAST_DAY)
    assert report.skipped
    assert counts(service) == before
    assert before["school_days"] == len(DAYS)


def test_forced_rerun_of_a_day_writes_no_second_copy_of_what_it_decided(service: Service) -> None:
    before = counts(service)
    report = service.run_day(SCHOOL, LAST_DAY, force=True)
    assert not report.skipped
    assert counts(service)["tasks"] == before["tasks"]  # universal tasks are not duplicated
    assert counts(service)["cases"] == before["cases"]


def test_the_history_is_what_the_backtest_decides_and_its_chain_holds(
    service: Service, tmp_path: Path
) -> None:
    """The daemon runs the backtest's engine: same marks, same decisions, in the same order."""
    setup = service.setup(SCHOOL)
    tables = [read_day(setup, tmp_path, d) for d in DAYS]
    marks = concat(tables)
    book = run_school(
        SchoolRun(SCHOOL, setup.flow, setup.calendar, marks),
        Period(None, LAST_DAY),
        auto_complete=False,
    )
    expected = {book.pupils[p]: [d.to_event() for d in h] for p, h in book.history.items()}
    assert set(expected) == {"P1", "P2"}
    for pupil, events in expected.items():
        view = service.case(SCHOOL, pupil)
        assert [dict(e.event) for e in view.history] == events
        assert view.broken_chain == ()
    p1 = service.case(SCHOOL, "P1")
    assert (p1.status, p1.stage, p1.opened_on) == ("open", 2, LAST_DAY)


def test_a_snapshot_loads_the_same_case_as_folding_its_history(service: Service) -> None:
    with service.store.engine.connect() as conn:
        sid = conn.execute(
            sa.text("SELECT id FROM schools WHERE key = :k"), {"k": SCHOOL}
        ).scalar_one()
        held = load_cases(conn, sid, SCHOOL)
        for pupil, stored in held.items():
            assert stored.id is not None
            assert stored.case == fold_case(conn, stored.id, SCHOOL, pupil)


def test_histories_read_together_are_each_case_history_as_the_column_types_read_it(
    service: Service,
) -> None:
    with service.store.engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM cases")).scalars())
        together = cases.histories(conn, [*ids, ids[0], 10**9])  # a repeat, an unknown id
        typed = cases._histories_selected(conn, sorted(ids))
        one_by_one = {i: cases.history(conn, i) for i in ids}
    assert together == typed == one_by_one
    assert sum(len(rows) for rows in together.values()) > len(ids)



def test_histories_of_some_record_types_are_those_rows_in_order_as_the_column_types_read_them(
    service: Service,
) -> None:
    kinds = ["stage_entered", "case_opened"]
    with service.store.engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM cases")).scalars())
        whole = cases.histories(conn, ids)
        some = cases.histories(conn, [*ids, 10**9], kinds)
        typed = cases._histories_selected(conn, sorted(ids), sorted(kinds))
    of_kinds = {i: [r for r in rows if r.type in kinds] for i, rows in whole.items()}
    assert some == typed == {i: rows for i, rows in of_kinds.items() if rows}
    assert some and some != whole


def test_a_tampered_history_record_breaks_the_chain(service: Service) -> None:
    with service.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE case_events SET actor = 'someone' WHERE seq = 2"))
    assert service.case(SCHOOL, "P1").broken_chain == (2,)


def test_a_timer_claimed_by_two_workers_fires_once(service: Service, clock: SimulatedClock) -> None:
    timer = arm_review(service, clock)
    clock.set(timer + timedelta(minutes=5))
    other = Service(service.store, service.trust, clock, worker="other")
    first, second = service.fire_due_timers(), other.fire_due_timers()
    assert [f.timer for f in first] == ["four_week_review"] and second == []
    fired = first[0]
    assert fired.late_seconds == 300 and fired.decisions[0].type == "timer_fired"
    with service.store.engine.begin() as conn:
        row = conn.execute(sa.text("SELECT status, claimed_by, late_seconds FROM timers")).one()
        assert tuple(row) == ("fired", "test", 300)
        assert claim_timer(conn, fired.timer_id, clock.now(), "late") is None
    history = service.case(SCHOOL, "P2").history
    assert [e.type for e in history].count("timer_fired") == 1


def test_a_first_day_call_not_made_by_the_next_school_day_lapses_and_stays_on_record(
    service: Service,
) -> None:
    calls = [t for t in service.tasks(SCHOOL) if t.task == "first_day_absence_call"]
    assert [(t.pupil, t.due) for t in calls] == [("P2", date(2025, 9, 12))]  # the 4th's is gone
    with service.store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT due, status, superseded_why FROM tasks WHERE task = :t ORDER BY due"),
            {"t": "first_day_absence_call"},
        ).all()
    assert [(str(r[0]), r[1], r[2]) for r in rows] == [
        ("2025-09-04", "lapsed", "lapsed: not done by 2025-09-05"),
        ("2025-09-12", "open", None),
    ]
    assert service.status().lapsed_tasks == {"first_day_absence_call": 1}


def test_completing_a_task_someone_else_completed_is_a_conflict_naming_them(
    service: Service,
) -> None:
    task = task_id(service, "P2", "first_day_absence_call")
    done = service.complete_task(task, "contact_made", by="s.one")
    assert (done.status, done.completed_by) == ("done", "s.one")
    with pytest.raises(ConflictError, match=r"already completed by s\.one"):
        service.complete_task(task, "no_answer", by="s.two")


def test_a_retried_completion_is_recorded_once(service: Service) -> None:
    letter_task = task_id(service, "P1", "attendance_reminder_letter")
    letter = service.task(letter_task).letter_id
    assert letter is not None
    service.approve_letter(letter, by="s.head")
    before = counts(service)["case_events"]
    first = service.complete_task(letter_task, "sent", by="s.one")
    again = service.complete_task(letter_task, "sent", by="s.one")
    assert not first.already_recorded and again.already_recorded
    history = service.case(SCHOOL, "P1").history
    assert [e.type for e in history].count("task_completed") == 1
    assert counts(service)["case_events"] > before


@pytest.mark.parametrize(
    ("task", "outcome", "by", "error", "message"),
    [
        (
            "first_day_absence_call",
            "waved",
            "s.one",
            ActionError,
            "not one of contact_made, no_answer",
        ),
        ("attendance_reminder_letter", "posted", "s.one", ActionError, "not one of sent"),
        ("attendance_reminder_letter", "sent", " ", ActionError, "not a staff id"),
        (None, "sent", "s.one", NotFoundError, "no task 9999"),
    ],
)
def test_a_bad_completion_is_refused_and_nothing_is_written(
    service: Service, task: str | None, outcome: str, by: str, error: type[Exception], message: str
) -> None:
    before = counts(service)
    pupil = "P2" if task == "first_day_absence_call" else "P1"
    target = task_id(service, pupil, task) if task else 9999
    with pytest.raises(error, match=message):
        service.complete_task(target, outcome, by=by)
    assert counts(service) == before


def test_a_letter_is_prepared_with_the_task_and_sent_only_after_approval(service: Service) -> None:
    task = service.task(task_id(service, "P1", "attendance_reminder_letter"))
    assert task.letter_id is not None and task.approval
    letter = service.letter(task.letter_id)
    assert letter.status == "prepared" and letter.template == "attendance_reminder_letter"
    assert "Oaks Test Academy" in letter.html and "01234" in letter.html
    with pytest.raises(ActionError, match="has not been approved"):
        service.complete_task(task.id, "sent", by="s.one")
    assert service.approve_letter(letter.id, by="s.head").approved_by == "s.head"
    service.complete_task(task.id, "sent", by="s.one")
    sent = service.letter(letter.id)
    assert (sent.status, sent.sent_by) == ("sent", "s.one")
    assert service.letter_pdf(letter.id).startswith(b"%PDF")


def test_the_case_page_lists_the_letter_the_service_shows(service: Service) -> None:
    from escalation_flow.adapters.store.page_reads import SqlPageReads

    task = service.task(task_id(service, "P1", "attendance_reminder_letter"))
    assert task.letter_id is not None
    service.approve_letter(task.letter_id, by="s.head")
    service.letter_pdf(task.letter_id)
    listed = SqlPageReads(service.store).letters_of(SCHOOL, "P1")
    shown = service.letter(task.letter_id)
    assert shown.has_pdf and shown.approval_needed
    assert [letter for letter in listed if letter.id == shown.id] == [shown]


def test_an_override_is_recorded_with_its_reason_and_who_and_stage_zero_closes(
    service: Service,
) -> None:
    service.override(SCHOOL, "P1", 3, "professional judgement: sibling concerns", by="s.head")
    view = service.case(SCHOOL, "P1")
    overridden = next(e for e in view.history if e.type == "stage_overridden")
    assert overridden.event["reason_text"] == "professional judgement: sibling concerns"
    assert overridden.actor == "s.head" and overridden.event["by"] == "s.head"
    assert (view.stage, view.state) == (3, "stage_3.meeting_requested")
    service.override(SCHOOL, "P1", 0, "moved school", by="s.head")
    closed = service.case(SCHOOL, "P1")
    assert (closed.status, closed.stage) == ("closed", 0)
    with pytest.raises(ActionError, match="not a stage"):
        service.override(SCHOOL, "P2", 9, "why not", by="s.head")


def test_a_closed_case_reopens_on_its_own_row_and_its_serials_carry_on(
    service: Service, clock: SimulatedClock, tmp_path: Path
) -> None:
    """P1 still has three lates this half term: closed by hand, the next evening re-opens it."""
    service.override(SCHOOL, "P1", 0, "closed too early", by="s.head")
    monday = date(2025, 9, 15)
    clock.set(local(monday, 17))
    path = day_marks(tmp_path, monday)
    result = read_marks(path, service.trust.calendars())
    service.store.import_marks(result, file=path, now=clock.now(), by="test")
    clock.set(local(monday, 18))
    assert service.run_day(SCHOOL, monday).cases_opened == 1
    view = service.case(SCHOOL, "P1")
    types = [e.type for e in view.history]
    assert types.count("case_opened") == 2 and view.status == "open"
    keys = [e.event["task_key"] for e in view.history if e.type == "task_created"]
    assert keys == ["attendance_reminder_letter#1", "attendance_reminder_letter#2"]
    with service.store.engine.connect() as conn:
        sid = conn.execute(sa.text("SELECT id FROM schools")).scalar_one()
        stored = load_cases(conn, sid, SCHOOL, ["P1"])["P1"]
        assert stored.id == view.case_id
        assert stored.case == fold_case(conn, view.case_id, SCHOOL, "P1")


def test_an_unknown_event_is_refused_and_a_manual_event_is_recorded(service: Service) -> None:
    with pytest.raises(ActionError, match="not a task or event"):
        service.record_event(SCHOOL, "P3", "bake_sale", by="s.one")
    with pytest.raises(NotFoundError):
        service.record_event(SCHOOL, "P99", "la_case_closed", by="s.one")
    decisions = service.record_event(SCHOOL, "P2", "la_case_closed", by="s.one", note="LA done")
    assert decisions[0].type == "event_recorded"


def test_an_actions_file_applied_twice_is_recorded_once(service: Service, tmp_path: Path) -> None:
    path = tmp_path / "actions.csv"
    at = local(LAST_DAY, 18, 30).isoformat()
    path.write_text(
        "at,school,pupil,action,outcome,by\n"
        f"{at},{SCHOOL},P2,la_case_closed,,s.one\n"
        f"{at},{SCHOOL},P3,no_such_thing,,s.one\n",
        encoding="utf-8",
    )
    first = service.apply_actions(path)
    second = service.apply_actions(path)
    assert (first.applied, first.already_recorded, len(first.problems)) == (1, 0, 1)
    assert (second.applied, second.already_recorded) == (0, 1)
    assert first.problems[0].line == 3 and "no_such_thing" in first.problems[0].message
    events = [e.type for e in service.case(SCHOOL, "P2").history]
    assert events.count("event_recorded") == 1


def test_status_reports_an_overdue_timer_and_the_last_evaluation(
    service: Service, clock: SimulatedClock
) -> None:
    timer = arm_review(service, clock)
    clock.set(timer + timedelta(hours=2))
    report = service.status()
    assert report.pending_timers == 1
    assert len(report.timers_late_by_more_than(timedelta(minutes=60))) == 1
    assert not report.timers_late_by_more_than(timedelta(hours=3))
    (school,) = report.schools
    assert (school.last_day, school.last_mark_day) == (LAST_DAY, LAST_DAY)


def test_every_written_instant_is_utc_and_comes_from_the_clock(
    service: Service, clock: SimulatedClock
) -> None:
    timer = arm_review(service, clock)
    clock.set(timer + timedelta(minutes=1))
    service.fire_due_timers()
    letter = service.task(task_id(service, "P1", "attendance_reminder_letter")).letter_id
    assert letter is not None
    service.approve_letter(letter, by="s.head")
    instants = written_instants(service)
    assert instants and all(
        i.tzinfo is not None and i.utcoffset() == timedelta(0) for i in instants
    )
    # Decisions happen on the simulated school days, never at the wall clock's time.
    assert max(instants) <= clock.now() < datetime(2026, 1, 1, tzinfo=UTC)


# -- helpers -------------------------------------------------------------------------------------


def arm_review(service: Service, clock: SimulatedClock) -> datetime:
    """P2 to stage three; its meeting held: the four-week review is armed. Its fire_at."""
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    service.complete_task(task_id(service, "P2", "attendance_meeting"), "held", by="s.one")
    (timer,) = service.case(SCHOOL, "P2").pending_timers
    assert timer.due == date(2025, 10, 10)
    return timer.fire_at


def written_instants(service: Service) -> list[datetime]:
    columns = {
        "cases": ("updated_at",),
        "case_events": ("at", "recorded_at"),
        "tasks": ("created_at", "completed_at"),
        "timers": ("fire_at", "armed_at", "fired_at"),
        "letters": ("prepared_at", "approved_at", "sent_at"),
        "school_days": ("evaluated_at",),
    }
    out: list[datetime] = []
    with service.store.engine.connect() as conn:
        for table, names in columns.items():
            model = sa.Table(table, sa.MetaData())
            from escalation_flow.adapters.store.models import Base

            model = Base.metadata.tables[table]
            for name in names:
                out += [
                    v for v in conn.execute(sa.select(model.c[name])).scalars() if v is not None
                ]
    return out


def read_day(setup: Any, folder: Path, day: date) -> MarkTable:
    from escalation_flow.adapters.register_files import read_marks

    result = read_marks(day_marks(folder, day), {SCHOOL: setup.calendar})
    return result.tables[SCHOOL]


def concat(tables: list[MarkTable]) -> MarkTable:
    import numpy as np

    pupils = tables[0].pupils
    assert all(t.pupils == pupils for t in tables)
    return MarkTable(
        school=SCHOOL,
        pupils=pupils,
        pupil=np.concatenate([t.pupil for t in tables]),
        session=np.concatenate([t.session for t in tables]),
        code=np.concatenate([t.code for t in tables]),
        recorded_at=np.concatenate([t.recorded_at for t in tables]),
        minutes_late=np.concatenate([t.minutes_late for t in tables]),
    )


def test_the_stage_moves_the_trends_read_name_each_stage_and_each_undo(service: Service) -> None:
    """Stage entries and overrides with their stage, a close as stage 0, an undo with how many
    records it withdrew (``PageReads.stage_moves``, on SQLite and PostgreSQL)."""
    from escalation_flow.adapters.store.page_reads import SqlPageReads

    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    service.complete_task(task_id(service, "P2", "attendance_meeting"), "held", by="s.one")
    service.undo.undo_last(SCHOOL, "P2", "s.one")
    service.override(SCHOOL, "P2", 0, "moved away", by="s.head")
    case_id = service.case(SCHOOL, "P2").case_id
    moves = [m for m in SqlPageReads(service.store).stage_moves(SCHOOL) if m.case_id == case_id]
    moves.sort(key=lambda m: m.seq)
    assert [(m.stage, m.undoes > 0) for m in moves] == [(2, False), (3, False), (0, True), (0, False)]
