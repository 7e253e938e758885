"""``letters list``'s read: prepared letters, newest first, filtered in the database by school,
status and when they were prepared (the pupil search runs over the names afterwards, in
``cli.letters``). Without the letters' HTML and PDF: a list of thousands stays small."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select

from escalation_flow.adapters.store.cases import CASES, LETTERS, TASKS
from escalation_flow.adapters.store.models import School


@dataclass(frozen=True)
class LetterLine:
    id: int
    task_id: int
    school: str
    pupil: str
    template: str
    status: str
    prepared_at: dt.datetime
    approval_needed: bool
    approved_by: str | None
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class LetterFilter:
    """Which letters: ``prepared_from`` inclusive, ``prepared_to`` exclusive (UTC instants)."""

    school: str | None = None
    status: str | None = None
    prepared_from: dt.datetime | None = None
    prepared_to: dt.datetime | None = None


def letter_lines(engine: Engine, where: LetterFilter) -> list[LetterLine]:
    query = select(
        LETTERS.c.id,
        LETTERS.c.task_id,
        School.key.label("school"),
        CASES.c.pupil,
        LETTERS.c.template,
        LETTERS.c.status,
        LETTERS.c.prepared_at,
        TASKS.c.approval.label("approval_needed"),
        LETTERS.c.approved_by,
        LETTERS.c.sent_at,
    ).select_from(
        LETTERS.join(CASES, CASES.c.id == LETTERS.c.case_id)
        .join(School, School.id == CASES.c.school_id)
        .join(TASKS, TASKS.c.id == LETTERS.c.task_id)
    )
    if where.school is not None:
        query = query.where(School.key == where.school)
    if where.status is not None:
        query = query.where(LETTERS.c.status == where.status)
    if where.prepared_from is not None:
        query = query.where(LETTERS.c.prepared_at >= _stored(where.prepared_from))
    if where.prepared_to is not None:
        query = query.where(LETTERS.c.prepared_at < _stored(where.prepared_to))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(LETTERS.c.id.desc())).mappings()
        return [LetterLine(**row) for row in rows]


def _stored(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(dt.UTC)
