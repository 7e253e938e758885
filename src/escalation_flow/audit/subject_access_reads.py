"""What a subject access draft reads straight from the store: one pupil's marks with every
version, their tasks of no case (the first-day calls), and the staff audit log's entries about
the pupil.

Read-only, and through the store's own tables (as ``audit.inputs`` reads a case): a subject
access request is an audit of what is held, not a use of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_reads import MARKS, PUPILS
from escalation_flow.adapters.store.cases import TASKS, school_id
from escalation_flow.adapters.store.staff_models import AuditEntry
from escalation_flow.core.subject_access import AuditLine, SessionMarks


def pupil_marks(store: Store, school: str, pupil: str) -> list[SessionMarks]:
    """Every session the pupil has a mark for, in date order; amended ones with each version
    (oldest first: the MIS's ``recorded_at``, then the import that brought them)."""
    m, p = MARKS.c, PUPILS.c
    with store.engine.connect() as conn:
        sid = school_id(conn, school)
        query = (
            select(m.date, m.session, m.code, m.recorded_at, m.recorded_by)
            .join(PUPILS, p.id == m.pupil_id)
            .where((m.school_id == sid) & (p.mis_id == pupil))
            .order_by(m.date, m.session, m.recorded_at, m.import_id, m.code)
        )
        rows = conn.execute(query).all()
    out: list[SessionMarks] = []
    for (day, session), group in groupby(rows, key=lambda r: (r.date, r.session)):
        versions = [(str(r.code), _aware(r.recorded_at), r.recorded_by) for r in group]
        amended = len({v[0] for v in versions}) > 1
        out.append(
            SessionMarks(
                _day(day), str(session), versions[-1][0], tuple(versions) if amended else ()
            )
        )
    return out


def audit_about(store: Store, school: str, pupil: str) -> list[AuditLine]:
    """The audit log's entries naming the pupil, oldest first."""
    a = AuditEntry.__table__.c
    query = (
        select(a.at, a.actor, a.action, a.detail)
        .where((a.school == school) & (a.pupil == pupil))
        .order_by(a.id)
    )
    with store.engine.connect() as conn:
        return [
            AuditLine(_aware(r.at), str(r.actor), str(r.action), r.detail)
            for r in conn.execute(query)
        ]


def tasks_without_case(store: Store, school: str, pupil: str) -> list[Any]:
    """The pupil's tasks of no case (the first-day calls), oldest first."""
    t = TASKS.c
    with store.engine.connect() as conn:
        sid = school_id(conn, school)
        query = (
            select(TASKS)
            .where((t.school_id == sid) & (t.pupil == pupil) & t.case_id.is_(None))
            .order_by(t.id)
        )
        return list(conn.execute(query))


def _aware(instant: datetime) -> datetime:
    """SQLite hands instants back without their offset; every instant stored is UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value
