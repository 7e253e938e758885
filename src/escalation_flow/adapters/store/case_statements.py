"""The statements the history writer runs, built once: a timer firing writes a dozen
statements, and building SQLAlchemy constructs costs more than running them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update

from escalation_flow.adapters.store.cases import CASES, LETTERS, TASKS, TIMERS
from escalation_flow.adapters.store.models import UtcDateTime
from escalation_flow.stored import (
    LETTER_APPROVED,
    LETTER_PREPARED,
    LETTER_SENT,
    LETTER_SUPERSEDED,
    TASK_DONE,
    TASK_OPEN,
    TASK_SUPERSEDED,
    TIMER_CANCELLED,
    TIMER_FIRED,
    TIMER_PENDING,
)

LETTER = "letter"
#: the ``cases`` columns a written case sets
CASE_COLUMNS = ("flow", "flow_version", "status", "stage", "state", "opened_on", "closed_on",
                "updated_at", "length", "head_hash", "snapshot")  # fmt: skip


@dataclass(frozen=True)
class Statements:
    """Every statement the writer runs with bound parameters (``b_*``)."""

    new_cases: Any
    case: Any
    new_tasks: Any
    complete: Any
    supersede: Any
    letter_sent: Any
    letter_superseded: Any
    timer_fired: tuple[Any, Any]  # (PostgreSQL, SQLite)
    timer_cancelled: Any
    reopen: Any  # a task an undone action completed or superseded, open again
    rearm: Any  # a timer an undone action cancelled, pending again
    letter_back: Any  # the letter of a task an undone action superseded, as it was before


@cache
def statements() -> Statements:
    c, t, m, lt = CASES.c, TASKS.c, TIMERS.c, LETTERS.c
    open_task = (
        t.case_id == bindparam("b_case"),
        t.key == bindparam("b_key"),
        t.status == TASK_OPEN,
    )
    task_id = (
        select(t.id)
        .where(t.case_id == bindparam("b_case"), t.key == bindparam("b_key"))
        .scalar_subquery()
    )
    # IN (...) cannot be used with executemany: one comparison per status
    letter_open = and_(
        lt.task_id == task_id, or_(lt.status == LETTER_PREPARED, lt.status == LETTER_APPROVED)
    )
    pending = (
        m.case_id == bindparam("b_case"),
        m.key == bindparam("b_key"),
        m.status == TIMER_PENDING,
    )
    late_pg = func.greatest(
        0, func.floor(func.extract("epoch", bindparam("b_now", type_=UtcDateTime()) - m.fire_at))
    )
    # UtcDateTime is integer microseconds on SQLite
    late_sqlite = func.max(0, (bindparam("b_micros") - m.fire_at) // 1_000_000)
    fired = update(TIMERS).where(*pending)
    fired_values = {
        "status": TIMER_FIRED,
        "fired_at": bindparam("b_now", type_=UtcDateTime()),
        "claimed_by": bindparam("b_worker"),
    }
    return Statements(
        new_cases=insert(CASES).returning(c.id, c.pupil, sort_by_parameter_order=True),
        case=update(CASES)
        .where(c.id == bindparam("b_id"), c.length == bindparam("b_length"))
        .values({k: bindparam(k) for k in CASE_COLUMNS}),
        new_tasks=insert(TASKS).returning(t.id, sort_by_parameter_order=True),
        complete=update(TASKS)
        .where(*open_task)
        .values(
            status=TASK_DONE,
            completed_at=bindparam("b_at"),
            completed_by=bindparam("b_by"),
            outcome=bindparam("b_outcome"),
            note=bindparam("b_note"),
        ),
        supersede=update(TASKS)
        .where(*open_task)
        .values(status=TASK_SUPERSEDED, superseded_why=bindparam("b_why")),
        letter_sent=update(LETTERS)
        .where(letter_open)
        .values(status=LETTER_SENT, sent_by=bindparam("b_by"), sent_at=bindparam("b_at")),
        letter_superseded=update(LETTERS).where(letter_open).values(status=LETTER_SUPERSEDED),
        timer_fired=(
            fired.values(late_seconds=late_pg, **fired_values),
            fired.values(late_seconds=late_sqlite, **fired_values),
        ),
        timer_cancelled=update(TIMERS).where(*pending).values(status=TIMER_CANCELLED),
        reopen=update(TASKS)
        .where(
            t.case_id == bindparam("b_case"),
            t.key == bindparam("b_key"),
            or_(t.status == TASK_DONE, t.status == TASK_SUPERSEDED),
        )
        .values(
            status=TASK_OPEN,
            completed_at=None,
            completed_by=None,
            outcome=None,
            note=None,
            superseded_why=None,
        ),
        letter_back=update(LETTERS)
        .where(lt.task_id == task_id, lt.status == LETTER_SUPERSEDED)
        .values(
            status=case((lt.approved_by.is_(None), LETTER_PREPARED), else_=LETTER_APPROVED)
        ),
        rearm=update(TIMERS)
        .where(
            m.case_id == bindparam("b_case"),
            m.key == bindparam("b_key"),
            m.status == TIMER_CANCELLED,
        )
        .values(status=TIMER_PENDING),
    )
