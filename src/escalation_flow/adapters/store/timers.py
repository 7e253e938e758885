"""Timers as the scheduler and the school days need them: which are due, claiming one (the
dialects differ here), when pending ones fire, and which school days were evaluated.

The timers table is the truth; a scheduler only mirrors the instants ``pending_fire_times``
gives. Timers are claimed a batch at a time by a conditional ``UPDATE`` in the transaction that
records what they caused, so each fires once whatever dies when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, Connection, Integer, any_, bindparam, func, literal, select, update

from escalation_flow.adapters.store.cases import CASES, SCHOOL_DAYS, SCHOOLS, TIMERS
from escalation_flow.adapters.store.models import UtcDateTime
from escalation_flow.core.marks import to_micros
from escalation_flow.stored import TIMER_FIRED, TIMER_PENDING, DueTimer


def due_timers(conn: Connection, now: datetime) -> list[DueTimer]:
    """Pending timers with ``fire_at <= now``, in (fire_at, school, pupil, key) order."""
    t, c, s = TIMERS.c, CASES.c, SCHOOLS.c
    query = (
        select(t.id, t.case_id, t.key, t.fire_at, s.key.label("school"), s.id.label("sid"), c.pupil)
        .join(CASES, c.id == t.case_id)
        .join(SCHOOLS, s.id == t.school_id)
        .where(t.status == TIMER_PENDING, t.fire_at <= now)
        .order_by(t.fire_at, s.key, c.pupil, t.key)
    )
    return [
        DueTimer(r.id, r.case_id, r.key, r.fire_at, r.school, r.sid, r.pupil)
        for r in conn.execute(query)
    ]


def claim_timer(conn: Connection, timer_id: int, now: datetime, worker: str) -> int | None:
    """Flip one timer from pending to fired for ``worker``: the length of its case's history
    then, or None when another worker has it (``claim_timers`` of one)."""
    return claim_timers(conn, [timer_id], now, worker).get(timer_id)


def claim_timers(
    conn: Connection, timer_ids: Sequence[int], now: datetime, worker: str
) -> dict[int, int]:
    """Flip the timers of ``timer_ids`` still pending to fired for ``worker``, in one statement:
    each claimed timer's id to the length of its case's history then; a timer another worker
    has fired is left out, and on PostgreSQL so is one another worker holds (``SKIP LOCKED``:
    skipped, not waited for). SQLite needs 3.35 for ``RETURNING``."""
    if not timer_ids:
        return {}
    t, c = TIMERS.c, CASES.c
    still_pending = t.status == TIMER_PENDING
    ids = sorted(set(timer_ids))
    claim = update(TIMERS).values(
        status=TIMER_FIRED, fired_at=now, late_seconds=_late(conn, now), claimed_by=worker
    )
    if conn.dialect.name == "sqlite":
        # SQLite's RETURNING sees only the updated table; a second query costs nothing there.
        claimed = conn.execute(
            claim.where(t.id.in_(ids), still_pending).returning(t.id, t.case_id)
        ).all()
        if not claimed:
            return {}
        case_ids = sorted({row.case_id for row in claimed})
        lengths = dict(conn.execute(select(c.id, c.length).where(c.id.in_(case_ids))).all())
        return {int(row.id): int(lengths[row.case_id]) for row in claimed}
    # The ids go as one array: an ``IN`` of 400 parameters was rendered, converted by psycopg
    # and parsed by the server each time (a third of the claim's client CPU).
    listed = t.id == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    mine = select(t.id).where(listed, still_pending).with_for_update(skip_locked=True)
    statement = claim.where(
        t.id.in_(mine.scalar_subquery()), still_pending, c.id == t.case_id
    ).returning(t.id, c.length)
    return {int(row.id): int(row.length) for row in conn.execute(statement)}


def _late(conn: Connection, now: datetime) -> Any:
    """Whole seconds from the timer's ``fire_at`` to ``now``, in SQL."""
    fire_at = TIMERS.c.fire_at
    if conn.dialect.name == "sqlite":  # UtcDateTime is integer microseconds there
        return func.max(0, (literal(to_micros(now)) - fire_at) // 1_000_000)
    elapsed = func.extract("epoch", literal(now, UtcDateTime()) - fire_at)
    return func.greatest(0, func.floor(elapsed))


def pending_fire_times(conn: Connection, after: datetime | None, limit: int) -> list[datetime]:
    """The distinct instants at which pending timers fire, earliest first, later than ``after``
    (every pending one when None), at most ``limit`` of them."""
    t = TIMERS.c
    query = select(t.fire_at).where(t.status == TIMER_PENDING)
    if after is not None:
        query = query.where(t.fire_at > after)
    query = query.distinct().order_by(t.fire_at).limit(limit)
    return list(conn.execute(query).scalars())


def last_evaluated_days(conn: Connection) -> dict[str, date]:
    """Each school's latest evaluated school day (schools never evaluated are absent)."""
    d, s = SCHOOL_DAYS.c, SCHOOLS.c
    query = (
        select(s.key, func.max(d.day))
        .select_from(SCHOOL_DAYS)
        .join(SCHOOLS, s.id == d.school_id)
        .group_by(s.key)
    )
    return {key: day for key, day in conn.execute(query).all() if day is not None}
