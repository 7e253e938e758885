"""What the status report and a school's case list read: counts and latest instants, by school.

Aggregates over ``UtcDateTime`` columns come back raw on SQLite (integer microseconds), so they
are turned into instants here, where the dialect is known.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from escalation_flow.adapters.store.cases import (
    CASES,
    EVENTS,
    SCHOOL_DAYS,
    SCHOOLS,
    TASKS,
    TIMERS,
)
from escalation_flow.adapters.store.models import Mark, table_of
from escalation_flow.core.marks import from_micros
from escalation_flow.stored import OPEN, TASK_LAPSED, TIMER_PENDING, SchoolActivity


def case_lines(conn: Connection, school_id: int, status: str | None) -> list[Row[Any]]:
    """Every case row of a school with how often it opened, highest stage first."""
    c, e = CASES.c, EVENTS.c
    openings = (
        select(e.case_id, func.count().label("n"))
        .where(e.type == "case_opened")
        .group_by(e.case_id)
        .subquery()
    )
    query = (
        select(CASES, func.coalesce(openings.c.n, 0).label("openings"))
        .outerjoin(openings, openings.c.case_id == c.id)
        .where(c.school_id == school_id)
        .order_by(c.status.desc(), c.stage.desc(), c.pupil)
    )
    if status is not None:
        query = query.where(c.status == status)
    return list(conn.execute(query).all())


def pending_timer_count(conn: Connection) -> int:
    query = select(func.count()).select_from(TIMERS).where(TIMERS.c.status == TIMER_PENDING)
    return int(conn.execute(query).scalar_one())


def overdue_timers(conn: Connection, now: datetime) -> list[Row[Any]]:
    """Pending timers due by ``now`` (timer columns, ``pupil`` and ``school``), oldest first."""
    t, c, s = TIMERS.c, CASES.c, SCHOOLS.c
    query = (
        select(TIMERS, c.pupil, s.key.label("school"))
        .join(CASES, c.id == t.case_id)
        .join(SCHOOLS, s.id == t.school_id)
        .where(t.status == TIMER_PENDING, t.fire_at <= now)
        .order_by(t.fire_at, s.key, c.pupil)
    )
    return list(conn.execute(query).all())


def lapsed_task_counts(conn: Connection) -> dict[str, int]:
    t = TASKS.c
    query = (
        select(t.task, func.count())
        .where(t.status == TASK_LAPSED)
        .group_by(t.task)
        .order_by(t.task)
    )
    return {str(task): int(n) for task, n in conn.execute(query).all()}


def open_case_versions(conn: Connection) -> list[tuple[str, str, int]]:
    """(school, flow version, open cases) for every version open cases run under."""
    c, s = CASES.c, SCHOOLS.c
    query = (
        select(s.key, c.flow_version, func.count())
        .join(SCHOOLS, s.id == c.school_id)
        .where(c.status == OPEN)
        .group_by(s.key, c.flow_version)
        .order_by(s.key, c.flow_version)
    )
    return [(str(k), str(v), int(n)) for k, v, n in conn.execute(query)]


def school_activity(conn: Connection) -> list[SchoolActivity]:
    """Every school of the store, by key, with its latest evaluation and import."""
    d, s = SCHOOL_DAYS.c, SCHOOLS.c
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
            SchoolActivity(
                school=key,
                last_day=e.day if e else None,
                evaluated_at=_instant(e.at) if e else None,
                last_import_at=_instant(i.at) if i else None,
                last_mark_day=_day(i.day) if i else None,
            )
        )
    return out


def _instant(value: Any) -> datetime | None:
    """An aggregate over a ``UtcDateTime`` column comes back as that type (or raw on SQLite)."""
    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
