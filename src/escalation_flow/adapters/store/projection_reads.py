"""What ``audit verify`` reads to check the tables written beside the history (tasks, timers,
letters, the staff audit log) against the chains that record them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from escalation_flow.adapters.store.cases import CASES, LETTERS, SCHOOLS, TASKS, TIMERS
from escalation_flow.adapters.store.models import table_of
from escalation_flow.adapters.store.staff_models import AuditEntry


@dataclass(frozen=True)
class TaskState:
    id: int
    case_id: int | None
    school: str
    pupil: str
    key: str
    status: str
    due: date
    completed_by: str | None
    completed_at: datetime | None
    outcome: str | None
    note: str | None
    superseded_why: str | None
    role: str = ""
    approval: bool = False


@dataclass(frozen=True)
class TimerState:
    id: int
    case_id: int
    key: str
    due: date
    fire_at: datetime
    status: str


@dataclass(frozen=True)
class LetterState:
    id: int
    task_id: int
    case_id: int
    school: str
    pupil: str
    status: str
    html: str
    pdf: bytes | None
    approved_by: str | None
    approved_at: datetime | None
    sent_by: str | None
    sent_at: datetime | None


def tasks_by_case(conn: Connection) -> dict[int | None, list[TaskState]]:
    """Every task, by case id (None: the tasks without a case)."""
    t, s = TASKS.c, SCHOOLS.c
    query = (
        select(
            t.id, t.case_id, s.key.label("school"), t.pupil, t.key, t.status, t.due,
            t.completed_by, t.completed_at, t.outcome, t.note, t.superseded_why, t.role,
            t.approval,
        )
        .join(SCHOOLS, s.id == t.school_id)
        .order_by(t.id)
    )  # fmt: skip
    out: dict[int | None, list[TaskState]] = defaultdict(list)
    for row in conn.execute(query):
        out[row.case_id].append(TaskState(**row._asdict()))
    return out


def timers_by_case(conn: Connection) -> dict[int, list[TimerState]]:
    m = TIMERS.c
    query = select(m.id, m.case_id, m.key, m.due, m.fire_at, m.status).order_by(m.id)
    out: dict[int, list[TimerState]] = defaultdict(list)
    for row in conn.execute(query):
        out[row.case_id].append(TimerState(**row._asdict()))
    return out


def letters(conn: Connection) -> list[LetterState]:
    lt, c, s = LETTERS.c, CASES.c, SCHOOLS.c
    query = (
        select(
            lt.id, lt.task_id, lt.case_id, s.key.label("school"), c.pupil, lt.status, lt.html,
            lt.pdf, lt.approved_by, lt.approved_at, lt.sent_by, lt.sent_at,
        )
        .join(CASES, c.id == lt.case_id)
        .join(SCHOOLS, s.id == c.school_id)
        .order_by(lt.id)
    )  # fmt: skip
    out = []
    for row in conn.execute(query):
        values: dict[str, Any] = row._asdict()
        values["pdf"] = None if row.pdf is None else bytes(row.pdf)
        out.append(LetterState(**values))
    return out


def audit_rows(conn: Connection) -> list[dict[str, Any]]:
    log = table_of(AuditEntry)
    return [dict(r) for r in conn.execute(select(log).order_by(log.c.id)).mappings()]
