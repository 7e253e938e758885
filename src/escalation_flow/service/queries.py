"""What is due and what happened: worklists, a case's history, the service's health."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from escalation_flow.adapters.store.case_models import OPEN, TASK_LAPSED, TASK_OPEN, TIMER_PENDING
from escalation_flow.adapters.store.cases import (
    CASES,
    EVENTS,
    LETTERS,
    SCHOOL_DAYS,
    SCHOOLS,
    TASKS,
    TIMERS,
    case_row,
    case_tasks,
    case_timers,
    history,
    open_tasks,
    school_id,
    task_row,
)
from escalation_flow.adapters.store.history import broken_links
from escalation_flow.adapters.store.models import Mark, table_of
from escalation_flow.errors import InputError, NotFoundError
from escalation_flow.service.views import (
    CaseLine,
    CaseView,
    HistoryEntry,
    SchoolStatus,
    StatusReport,
    TaskView,
    TimerView,
)

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


def tasks(
    service: Service,
    school: str | None,
    role: str | None,
    due_by: date | None,
    include_universal: bool,
) -> list[TaskView]:
    """Open tasks, most overdue first, then by due date (then school, pupil, id)."""
    with service.store.engine.connect() as conn:
        ids = None
        if school is not None:
            ids = [school_id(conn, service.setup(school).school)]
        rows = open_tasks(conn, ids, role, due_by, include_universal)
    views = [_task_view(service, row, row.school) for row in rows]
    views.sort(key=lambda v: (-v.overdue_days, v.due, v.school, v.pupil, v.id))
    return views


def task(service: Service, task_id: int) -> TaskView:
    with service.store.engine.connect() as conn:
        row = task_row(conn, task_id)
        school = conn.execute(
            select(SCHOOLS.c.key).where(SCHOOLS.c.id == row.school_id)
        ).scalar_one()
        letter = conn.execute(
            select(LETTERS.c.id, LETTERS.c.status).where(LETTERS.c.task_id == task_id)
        ).first()
    extra = {"letter_id": letter.id, "letter_status": letter.status} if letter else {}
    return _task_view(service, row, school, **extra)


def _task_view(service: Service, row: Any, school: str, **extra: Any) -> TaskView:
    mapping = row._mapping
    letter_id = extra.get("letter_id", mapping.get("letter_id"))
    letter_status = extra.get("letter_status", mapping.get("letter_status"))
    overdue = 0
    if row.status == TASK_OPEN:
        overdue = _school_days_late(service, school, row.due)
    return TaskView(
        id=row.id,
        school=school,
        pupil=row.pupil,
        task=row.task,
        role=row.role,
        kind=row.kind,
        due=row.due,
        status=row.status,
        approval=row.approval,
        created_on=row.created_on,
        case_id=row.case_id,
        key=row.key,
        template=row.template,
        overdue_days=overdue,
        completed_by=row.completed_by,
        completed_at=row.completed_at,
        outcome=row.outcome,
        note=row.note,
        letter_id=letter_id,
        letter_status=letter_status,
    )


def _school_days_late(service: Service, school: str, due: date) -> int:
    setup = service.setup(school)
    today = setup.local_date(service.now())
    if today <= due:
        return 0
    # due on a day that has passed: at least one school day late, even over a weekend
    return max(1, setup.calendar.school_days_between(due, today))


def case_lines(service: Service, school: str, status: str | None = None) -> list[CaseLine]:
    """Every case of a school (or those ``open``/``closed``), highest stage first."""
    setup = service.setup(school)
    c, e = CASES.c, EVENTS.c
    openings = (
        select(e.case_id, func.count().label("n"))
        .where(e.type == "case_opened")
        .group_by(e.case_id)
        .subquery()
    )
    with service.store.engine.connect() as conn:
        sid = school_id(conn, setup.school)
        query = (
            select(CASES, func.coalesce(openings.c.n, 0).label("openings"))
            .outerjoin(openings, openings.c.case_id == c.id)
            .where(c.school_id == sid)
            .order_by(c.status.desc(), c.stage.desc(), c.pupil)
        )
        if status is not None:
            query = query.where(c.status == status)
        rows = conn.execute(query).all()
    return [_case_line(r) for r in rows]


def _case_line(r: Any) -> CaseLine:
    return CaseLine(
        r.pupil, r.status, r.stage, r.state, r.opened_on, r.closed_on, r.flow_version, r.length,
        int(r.openings),
    )  # fmt: skip


def case(service: Service, school: str, pupil: str) -> CaseView:
    setup = service.setup(school)
    with service.store.engine.connect() as conn:
        sid = school_id(conn, setup.school)
        row = case_row(conn, sid, pupil)
        if row is None:
            raise NotFoundError(f"pupil {pupil!r} has no case at school {setup.school}")
        records = history(conn, row.id)
        task_rows = [t for t in case_tasks(conn, row.id) if t.status == TASK_OPEN]
        timer_rows = [t for t in case_timers(conn, row.id) if t.status == TIMER_PENDING]
    name = f"{setup.school}/{pupil}"
    broken = broken_links((r.link(name), r.hash) for r in records)
    return CaseView(
        school=setup.school,
        pupil=pupil,
        case_id=row.id,
        status=row.status,
        stage=row.stage,
        state=row.state,
        flow=row.flow,
        flow_version=row.flow_version,
        opened_on=row.opened_on,
        closed_on=row.closed_on,
        history=tuple(
            HistoryEntry(
                r.seq, r.on, r.at, r.type, r.event, r.actor, r.flow_version, r.recorded_at, r.hash
            )
            for r in records
        ),
        open_tasks=tuple(_task_view(service, t, setup.school) for t in task_rows),
        pending_timers=tuple(_timer_view(t, setup.school, pupil) for t in timer_rows),
        broken_chain=tuple(broken),
    )


def _timer_view(row: Any, school: str, pupil: str) -> TimerView:
    return TimerView(
        id=row.id,
        school=school,
        pupil=pupil,
        case_id=row.case_id,
        key=row.key,
        timer=row.timer,
        due=row.due,
        fire_at=row.fire_at,
        status=row.status,
        rule=row.rule,
        fired_at=row.fired_at,
        late_seconds=row.late_seconds,
        claimed_by=row.claimed_by,
    )


# -- status ----------------------------------------------------------------------------------


def status(service: Service) -> StatusReport:
    now = service.now()
    t, c, s = TIMERS.c, CASES.c, SCHOOLS.c
    with service.store.engine.connect() as conn:
        pending = conn.execute(
            select(func.count()).select_from(TIMERS).where(t.status == TIMER_PENDING)
        ).scalar_one()
        overdue_rows = conn.execute(
            select(TIMERS, c.pupil, s.key.label("school"))
            .join(CASES, c.id == t.case_id)
            .join(SCHOOLS, s.id == t.school_id)
            .where(t.status == TIMER_PENDING, t.fire_at <= now)
            .order_by(t.fire_at, s.key, c.pupil)
        ).all()
        schools = _schools(conn, _current_versions(service))
        lapsed = conn.execute(
            select(TASKS.c.task, func.count())
            .where(TASKS.c.status == TASK_LAPSED)
            .group_by(TASKS.c.task)
            .order_by(TASKS.c.task)
        ).all()
    overdue = tuple(_timer_view(r, r.school, r.pupil) for r in overdue_rows)
    open_views = tasks(service, None, None, None, include_universal=True)
    by_role: dict[str, int] = {}
    for view in open_views:
        if view.overdue_days:
            by_role[view.role] = by_role.get(view.role, 0) + 1
    return StatusReport(
        now=now,
        pending_timers=int(pending),
        overdue_timers=overdue,
        schools=schools,
        overdue_tasks_by_role=dict(sorted(by_role.items())),
        open_tasks=len(open_views),
        lapsed_tasks={str(task): int(n) for task, n in lapsed},
    )


def _current_versions(service: Service) -> dict[str, str]:
    """Each school's flow version now (a school the trust file no longer names: none)."""
    out = {}
    for school in service.schools():
        try:
            out[school] = service.setup(school).flow.version
        except InputError:  # a flow file that no longer loads: the daemon's start says why
            continue
    return out


def _earlier_versions(
    conn: Connection, current: dict[str, str]
) -> dict[str, tuple[tuple[str, int], ...]]:
    c, s = CASES.c, SCHOOLS.c
    query = (
        select(s.key, c.flow_version, func.count())
        .join(SCHOOLS, s.id == c.school_id)
        .where(c.status == OPEN)
        .group_by(s.key, c.flow_version)
        .order_by(s.key, c.flow_version)
    )
    out: dict[str, list[tuple[str, int]]] = {}
    for school, version, n in conn.execute(query):
        if school in current and version != current[school]:
            out.setdefault(school, []).append((str(version), int(n)))
    return {k: tuple(v) for k, v in out.items()}


def _schools(conn: Connection, current: dict[str, str]) -> tuple[SchoolStatus, ...]:
    d, s = SCHOOL_DAYS.c, SCHOOLS.c
    earlier = _earlier_versions(conn, current)
    evaluations = {
        row.school_id: row
        for row in conn.execute(
            select(
                d.school_id, func.max(d.day).label("day"), func.max(d.evaluated_at).label("at")
            ).group_by(d.school_id)
        )
    }
    marks = table_of(Mark)
    # One pass over the marks: the store keeps no per-school import summary.
    imports = {
        row.school_id: row
        for row in conn.execute(
            select(
                marks.c.school_id,
                func.max(marks.c.imported_at).label("at"),
                func.max(marks.c.date).label("day"),
            ).group_by(marks.c.school_id)
        )
    }
    out = []
    for sid, key in conn.execute(select(s.id, s.key).order_by(s.key)):
        e, i = evaluations.get(sid), imports.get(sid)
        out.append(
            SchoolStatus(
                school=key,
                last_day=e.day if e else None,
                evaluated_at=_instant(e.at) if e else None,
                last_import_at=_instant(i.at) if i else None,
                last_mark_day=_day(i.day) if i else None,
                earlier_versions=earlier.get(key, ()),
            )
        )
    return tuple(out)


def _instant(value: Any) -> datetime | None:
    """An aggregate over a ``UtcDateTime`` column comes back as that type (or raw on SQLite)."""
    from escalation_flow.core.marks import from_micros

    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
