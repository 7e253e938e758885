"""The service's use cases, one test body on every store (``conftest.world``): school days,
review timers, staff actions and overrides, units of work that fail, and the history's chain.

The world starts after the eighth school day of ``tests/daemon_builders``: P1 at stage two with
an attendance reminder letter to approve, P2 at stage two with a first-day absence call open,
P3 and P4 without a case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.audit.verify import check_chain
from escalation_flow.errors import ActionError, ConflictError, InputError, NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.service import FiredTimer, Service
from escalation_flow.stored import SchoolDayState
from tests.daemon_builders import DAYS, LAST_DAY, SCHOOL, local
from tests.service.conftest import World

MONDAY = date(2025, 9, 15)  # the school day after the world's eighth


def task_id(service: Service, pupil: str, task: str) -> int:
    return next(t.id for t in service.tasks(SCHOOL) if t.pupil == pupil and t.task == task)


def arm_review(service: Service) -> datetime:
    """P2 to stage three and its meeting held: the four-week review is armed. Its fire_at."""
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    service.complete_task(task_id(service, "P2", "attendance_meeting"), "held", by="s.one")
    (timer,) = service.case(SCHOOL, "P2").pending_timers
    return timer.fire_at


def state_of(service: Service) -> tuple[Any, ...]:
    """What the service can see of the store: cases (with their history's length), tasks,
    timers, evaluated days."""
    return (
        tuple(service.case_lines(SCHOOL)),
        tuple((t.id, t.status, t.completed_by) for t in service.tasks(SCHOOL)),
        service.status().pending_timers,
        service.last_evaluated_days(),
    )


# -- school days -----------------------------------------------------------------------------


def test_a_school_days_state_read_at_once_answers_as_its_four_questions_asked_apart(
    world: World,
) -> None:
    """``school_day``: the evening's one read of ``school_days``. An earlier day evaluated
    again after the latest makes the last written row another day than the latest day."""
    again = world.clock.now() + timedelta(hours=1)
    with world.store.begin() as tx:
        sid = tx.school_id(SCHOOL)
        tx.record_school_day(sid, DAYS[2], again, 0, "test")
    with world.store.read() as tx:
        for day in (DAYS[2], LAST_DAY, MONDAY):
            done, last = tx.evaluated(sid, day), tx.last_evaluation(sid)
            apart = SchoolDayState(
                sid,
                None if done is None else done.evaluated_at,
                last.evaluated_at,
                tx.last_evaluated_days()[SCHOOL],
            )
            assert tx.school_day(SCHOOL, day) == apart
        state = tx.school_day(SCHOOL, MONDAY)
        assert (state.evaluated_at, state.last_evaluated_at, state.latest_day) == (
            None, again, LAST_DAY,
        )  # fmt: skip
        with pytest.raises(NotFoundError, match="elms"):
            tx.school_day("elms", MONDAY)


def test_a_school_day_opens_cases_for_the_pupils_who_cross_a_threshold_and_not_the_others(
    world: World,
) -> None:
    """P3's unexplained absence crosses stage two's entry; P4 attends and gets no case."""
    world.import_register(MONDAY, {"P3": "N"})
    world.clock.set(local(MONDAY, 18))
    report = world.service.run_day(SCHOOL, MONDAY)
    assert (report.skipped, report.cases_opened) == (False, 1)
    p3 = world.service.case(SCHOOL, "P3")
    assert (p3.status, p3.stage, p3.opened_on) == ("open", 2, MONDAY)
    assert p3.history[0].type == "case_opened" and p3.history[0].on == MONDAY
    with pytest.raises(NotFoundError, match="P4"):
        world.service.case(SCHOOL, "P4")
    assert {line.pupil for line in world.service.case_lines(SCHOOL)} == {"P1", "P2", "P3"}


def test_a_school_day_already_evaluated_is_not_evaluated_again(world: World) -> None:
    before = state_of(world.service)
    assert world.service.run_day(SCHOOL, LAST_DAY).skipped
    assert state_of(world.service) == before


# -- timers ----------------------------------------------------------------------------------


def test_a_day_before_the_latest_evaluated_day_is_never_evaluated_even_forced(
    world: World,
) -> None:
    """Cases already carry the later day's decisions: an earlier evening run after it would rewind
    them and record a past that runs backwards (a daemon catching up behind a hand-run day, or
    ``run-day --force`` on an old day)."""
    monday, tuesday = date(2025, 9, 15), date(2025, 9, 16)
    world.clock.set(local(tuesday, 19))
    assert not world.service.run_day(SCHOOL, tuesday).skipped

    behind = world.service.run_day(SCHOOL, monday)
    forced = world.service.run_day(SCHOOL, monday, force=True)

    assert behind.skipped and behind.after == tuesday
    assert "2025-09-16 was evaluated already" in behind.line()
    assert forced.skipped and forced.after == tuesday


def test_a_system_actor_cannot_approve_a_letter_to_a_family(world: World) -> None:
    letter = world.service.letter(1)  # P2's reminder, prepared on 4 September
    with pytest.raises(ActionError, match="named member of staff"):
        world.service.approve_letter(1, by="auto")
    assert world.service.letter(1).status == letter.status == "prepared"


def test_a_review_timer_fires_exactly_once_even_when_claimed_twice(world: World) -> None:
    """Another worker fires the timer after this one listed it as due and before it claimed it:
    this one's claim finds it taken."""
    service = world.service
    fire_at = arm_review(service)
    world.clock.set(fire_at + timedelta(minutes=5))
    other = world.another("other")
    raced: list[list[FiredTimer]] = []

    def meanwhile() -> bool:  # asked before each timer is claimed
        if not raced:
            raced.append(other.fire_due_timers())
        return False

    assert service.fire_due_timers(stop=meanwhile) == []
    (fired,) = raced[0]
    assert (fired.pupil, fired.timer, fired.late_seconds) == ("P2", "four_week_review", 300)
    history = [e.type for e in service.case(SCHOOL, "P2").history]
    assert history.count("timer_fired") == 1
    assert service.fire_due_timers() == [] and other.fire_due_timers() == []
    with service.ctx.store.begin() as tx:
        (row,) = [t for t in tx.case_timers(fired.case_id) if t.key == fired.key]
        assert (row.status, row.claimed_by, row.late_seconds) == ("fired", "other", 300)
        assert tx.claim_timer(fired.timer_id, world.clock.now(), "late") is None


# -- staff actions ---------------------------------------------------------------------------


def test_a_staff_action_completes_its_task_and_a_retried_action_is_recorded_once(
    world: World,
) -> None:
    service = world.service
    task = task_id(service, "P1", "attendance_reminder_letter")
    letter = service.task(task).letter_id
    assert letter is not None
    service.approve_letter(letter, by="s.head")
    note = AuditNote(actor="s.one", action="task.complete", detail=f"task {task}")
    first = service.complete_task(task, "sent", by="s.one", audit=note)
    again = service.complete_task(task, "sent", by="s.one", audit=note)
    assert (first.status, first.completed_by, first.already_recorded) == ("done", "s.one", False)
    assert again.already_recorded
    assert [e.type for e in service.case(SCHOOL, "P1").history].count("task_completed") == 1
    assert service.letter(letter).status == "sent"
    assert task not in {t.id for t in service.tasks(SCHOOL)}
    assert world.audit_actions() == ["task.complete"]


def test_an_actions_file_applied_twice_is_recorded_once(world: World, tmp_path: Path) -> None:
    path = tmp_path / "actions.csv"
    path.write_text(
        f"at,school,pupil,action,outcome,by\n{local(LAST_DAY, 18, 30).isoformat()},"
        f"{SCHOOL},P2,la_case_closed,,s.one\n",
        encoding="utf-8",
    )
    first, second = world.service.apply_actions(path), world.service.apply_actions(path)
    assert (first.applied, first.already_recorded) == (1, 0)
    assert (second.applied, second.already_recorded) == (0, 1)
    events = [e.type for e in world.service.case(SCHOOL, "P2").history]
    assert events.count("event_recorded") == 1


def test_an_actions_file_naming_an_unknown_pupil_or_a_time_to_come_applies_nothing(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "actions.csv"
    at, later = local(LAST_DAY, 18, 30).isoformat(), local(date(2026, 1, 5), 9).isoformat()
    path.write_text(
        "at,school,pupil,action,outcome,by\n"
        f"{at},{SCHOOL},P2,la_case_closed,,s.one\n"
        f"{at},{SCHOOL},P9,la_case_closed,,s.one\n"
        f"{later},{SCHOOL},P1,la_case_closed,,s.one\n",
        encoding="utf-8",
    )
    before = state_of(world.service)
    with pytest.raises(InputError) as refused:
        world.service.apply_actions(path)
    assert state_of(world.service) == before
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "pupil"), (4, "at")]
    report = world.service.apply_actions(path, skip_invalid=True)
    assert (report.applied, len(report.problems)) == (1, 2)


def test_an_actions_file_that_is_not_utf8_is_refused_naming_its_line(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "actions.csv"
    path.write_bytes(b"at,school,pupil,action,outcome,by\n2025-09-12T18:30:00+01:00,oaks,P2,x\xe9,,s.one\n")
    with pytest.raises(InputError, match="not UTF-8") as refused:
        world.service.apply_actions(path)
    assert refused.value.problems[0].line == 2


@pytest.mark.parametrize(
    ("pupil", "task", "outcome"),
    [
        ("P2", "first_day_absence_call", "contact_made"),  # a task without a case
        ("P1", "attendance_reminder_letter", "sent"),  # a case's task, its letter approved
    ],
)
def test_the_second_person_completing_a_task_is_told_who_did_it_first(
    world: World, pupil: str, task: str, outcome: str
) -> None:
    service, colleague = world.service, world.another("web")
    target = task_id(service, pupil, task)
    letter = service.task(target).letter_id
    if letter is not None:
        service.approve_letter(letter, by="s.head")
    service.complete_task(target, outcome, by="s.one")
    before = state_of(service)
    with pytest.raises(ConflictError, match=r"already completed by s\.one"):
        colleague.complete_task(target, outcome, by="s.two")
    assert state_of(service) == before
    assert service.task(target).completed_by == "s.one"


def test_an_override_moves_the_stage_with_its_reason(world: World) -> None:
    world.service.override(SCHOOL, "P1", 3, "professional judgement: sibling concerns", by="s.head")
    view = world.service.case(SCHOOL, "P1")
    assert (view.stage, view.state) == (3, "stage_3.meeting_requested")
    overridden = next(e for e in view.history if e.type == "stage_overridden")
    assert overridden.event["reason_text"] == "professional judgement: sibling concerns"
    assert overridden.actor == "s.head"


# -- units of work ---------------------------------------------------------------------------


class _Failing:
    """A store whose units of work fail at ``method``, after everything before it was written
    through the same transaction."""

    def __init__(self, store: Any, method: str) -> None:
        self._store, self._method = store, method

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def begin(self) -> Iterator[Any]:
        with self._store.begin() as tx:
            yield _FailingTransaction(tx, self._method)


class _FailingTransaction:
    def __init__(self, tx: Any, method: str) -> None:
        self._tx, self._method = tx, method

    def __getattr__(self, name: str) -> Any:
        if name == self._method:
            raise RuntimeError(f"the store failed at {name}")
        return getattr(self._tx, name)


def test_a_school_day_that_fails_at_its_last_write_leaves_nothing_behind(world: World) -> None:
    """Decisions, the letter, the first-day call and the lapse are written, then the day's row
    fails: none of it is kept, and the day runs whole afterwards."""
    world.import_register(MONDAY, {"P3": "N"})
    world.clock.set(local(MONDAY, 18))
    before = state_of(world.service)
    failing = world.another("test", _Failing(world.store, "record_school_day"))
    with pytest.raises(RuntimeError, match="record_school_day"):
        failing.run_day(SCHOOL, MONDAY)
    assert state_of(world.service) == before
    assert world.service.run_day(SCHOOL, MONDAY).cases_opened == 1
    assert state_of(world.service) != before


def test_a_staff_action_whose_audit_entry_fails_is_not_recorded(world: World) -> None:
    before = state_of(world.service)
    failing = world.another("web", _Failing(world.store, "audit"))
    note = AuditNote(actor="s.head", action="case.override")
    target = task_id(world.service, "P2", "first_day_absence_call")
    with pytest.raises(RuntimeError, match="audit"):
        failing.complete_task(target, "contact_made", by="s.one", audit=note)
    assert state_of(world.service) == before and world.audit_actions() == []


# -- the history -----------------------------------------------------------------------------


def test_the_chain_of_every_case_verifies(world: World) -> None:
    service = world.service
    fire_at = arm_review(service)
    world.clock.set(fire_at + timedelta(minutes=1))
    assert len(service.fire_due_timers()) == 1
    lines = service.case_lines(SCHOOL)
    assert {line.pupil for line in lines} == {"P1", "P2"}
    with service.ctx.store.read() as tx:
        sid = tx.school_id(SCHOOL)
        for line in lines:
            row = tx.case_row(sid, line.pupil)
            records = tx.history(row.id)
            assert [r.seq for r in records] == list(range(1, row.length + 1))
            name = f"{SCHOOL}/{line.pupil}"
            assert check_chain(name, records, length=row.length, head_hash=row.head_hash) == []
            assert service.case(SCHOOL, line.pupil).broken_chain == ()


def test_several_cases_histories_read_at_once_are_each_case_history_in_order(
    world: World,
) -> None:
    """A school day's letters read their cases' histories in one read (``tx.histories``)."""
    service = world.service
    with service.ctx.store.read() as tx:
        sid = tx.school_id(SCHOOL)
        ids = [tx.case_row(sid, line.pupil).id for line in service.case_lines(SCHOOL)]
        assert len(ids) >= 2
        together = tx.histories([*ids, *ids, 999_999])  # repeats and an unknown case
        assert together == {case_id: tx.history(case_id) for case_id in ids}
        assert all(len(together[i]) > 1 for i in ids)


def test_histories_of_some_record_types_are_those_rows_of_each_history_in_order(
    world: World,
) -> None:
    """A school day's letters read only their cases' task records (``tx.histories(types)``)."""
    service = world.service
    with service.ctx.store.read() as tx:
        sid = tx.school_id(SCHOOL)
        ids = [tx.case_row(sid, line.pupil).id for line in service.case_lines(SCHOOL)]
        whole = {case_id: tx.history(case_id) for case_id in ids}
        kinds = {r.type for rows in whole.values() for r in rows}
        assert len(kinds) > 2
        for wanted in ({"stage_entered"}, {"case_opened", "stage_entered"}, {"nothing"}, set()):
            some = tx.histories([*ids, 999_999], wanted)
            expected = {i: [r for r in rows if r.type in wanted] for i, rows in whole.items()}
            assert some == {i: rows for i, rows in expected.items() if rows}


def test_a_school_another_daemon_holds_keeps_its_due_timers_for_the_holder(world: World) -> None:
    """Daemons on one PostgreSQL divide the schools by their locks (``school_guard``)."""
    service = world.service
    fire_at = arm_review(service)
    world.clock.set(fire_at + timedelta(minutes=1))
    asked: list[str] = []

    @contextmanager
    def held_by_another(school: str) -> Iterator[bool]:
        asked.append(school)
        yield False

    assert service.fire_due_timers(school_guard=held_by_another) == []
    assert asked == [SCHOOL]
    assert len(service.fire_due_timers(school_guard=lambda _: nullcontext(True))) == 1
