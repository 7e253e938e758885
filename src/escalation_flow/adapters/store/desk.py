"""Tasks and letters as staff act on them: completing a task without a case, approving a
letter, keeping its PDF, and finding an action already recorded (a retried actions file).

Every change is conditional on the row still being as the caller saw it (``status`` still open
or prepared), so two people acting at once change it once; the caller reads the row again to
say who was first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, insert, select, update

from escalation_flow.adapters.store import pg_rows, records
from escalation_flow.adapters.store.cases import CASES, EVENTS, LETTERS, SCHOOLS, TASKS
from escalation_flow.errors import ConflictError, InputError
from escalation_flow.stored import (
    LETTER_APPROVED,
    LETTER_ERASED,
    LETTER_PREPARED,
    TASK_DONE,
    TASK_OPEN,
)


def recorded_before(
    conn: Connection, case_id: int, name: str, outcome: str | None, by: str | None, at: datetime
) -> bool:
    """The same action (name, outcome, person) is already in the history at that instant."""
    e = EVENTS.c
    query = select(e.body).where(
        e.case_id == case_id, e.at == at, e.type.in_(("task_completed", "event_recorded"))
    )
    for body in conn.execute(query).scalars():
        event = json.loads(body)
        found = event.get("task") or event.get("event")
        same_outcome = outcome is None or event.get("outcome") == outcome
        if found == name and event.get("by") == by and same_outcome:
            return True
    return False


def school_key(conn: Connection, school_id: int) -> str:
    return str(conn.execute(select(SCHOOLS.c.key).where(SCHOOLS.c.id == school_id)).scalar_one())


def school_of_case(conn: Connection, case_id: int) -> str:
    query = (
        select(SCHOOLS.c.key)
        .join(CASES, CASES.c.school_id == SCHOOLS.c.id)
        .where(CASES.c.id == case_id)
    )
    return str(conn.execute(query).scalar_one())


def task_id_by_key(conn: Connection, case_id: int, key: str | None) -> int | None:
    query = select(TASKS.c.id).where(TASKS.c.case_id == case_id, TASKS.c.key == key)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def complete_open_task(
    conn: Connection, task_id: int, at: datetime, by: str, outcome: str, note: str | None
) -> bool:
    """A task without a case completed, if still open; False when someone else got there."""
    t = TASKS.c
    changed = conn.execute(
        update(TASKS)
        .where(t.id == task_id, t.status == TASK_OPEN)
        .values(status=TASK_DONE, completed_at=at, completed_by=by, outcome=outcome, note=note)
    ).rowcount
    if changed == 1:  # chained beside the school's other records (a task without a case)
        school = conn.execute(
            select(SCHOOLS.c.key)
            .join(TASKS, TASKS.c.school_id == SCHOOLS.c.id)
            .where(t.id == task_id)
        ).scalar_one()
        records.append(conn, [records.task_completed(school, task_id, by, at, outcome, note)], at)
    return bool(changed == 1)


def letter_status_of_task(conn: Connection, task_id: int) -> Any:
    """(id, status) of the letter a task prepared, if any."""
    query = select(LETTERS.c.id, LETTERS.c.status).where(LETTERS.c.task_id == task_id)
    return conn.execute(query).first()


def letter_task(conn: Connection, task_id: int) -> Any:
    """(approval, pupil, key: the school) of a letter's task."""
    query = (
        select(TASKS.c.approval, TASKS.c.pupil, SCHOOLS.c.key)
        .join(SCHOOLS, SCHOOLS.c.id == TASKS.c.school_id)
        .where(TASKS.c.id == task_id)
    )
    return conn.execute(query).one()


def approve_letter(conn: Connection, letter_id: int, by: str, now: datetime) -> bool:
    """A prepared letter approved by ``by``; False when it is no longer prepared."""
    l = LETTERS.c  # noqa: E741
    changed = conn.execute(
        update(LETTERS)
        .where(l.id == letter_id, l.status == LETTER_PREPARED)
        .values(status=LETTER_APPROVED, approved_by=by, approved_at=now)
    ).rowcount
    if changed == 1:
        chain = _chain_of_letter(conn, letter_id)
        records.append(conn, [records.letter_approved(chain, letter_id, by, now)], now)
    return bool(changed == 1)


def _chain_of_letter(conn: Connection, letter_id: int) -> str:
    case_id = conn.execute(select(LETTERS.c.case_id).where(LETTERS.c.id == letter_id)).scalar_one()
    return records.letter_chains(conn, [int(case_id)])[int(case_id)]


def keep_letter_pdf(
    conn: Connection, letter_id: int, pdf: bytes, now: datetime, figures: str | None = None
) -> bool:
    """The rendered PDF kept with its letter, and its digest chained (a PDF kept already
    stays); False when it was kept already. ``figures``: the text it was rendered from; when
    the letter's is another now (readdressed while the PDF was made) nothing is kept, and the
    letter stays to render from its new text."""
    l = LETTERS.c  # noqa: E741
    query = update(LETTERS).where(l.id == letter_id, l.pdf.is_(None))
    if figures is not None:
        query = query.where(l.figures == figures)
    changed = conn.execute(query.values(pdf=pdf)).rowcount
    if changed == 1:
        chain = _chain_of_letter(conn, letter_id)
        records.append(conn, [records.letter_rendered(chain, letter_id, pdf, now)], now)
    return bool(changed == 1)


def letters_without_pdf(conn: Connection, limit: int | None) -> list[Row[Any]]:
    """Letters whose PDF was never rendered, oldest first."""
    query = select(LETTERS).where(LETTERS.c.pdf.is_(None)).order_by(LETTERS.c.id)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).all())


def insert_letters(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """``letters`` rows, their ids in the order given."""
    if not rows:
        return []
    if pg_rows.many(conn, rows):  # a day's or a timer batch's letters: one COPY
        ids = pg_rows.copy_with_ids(conn, LETTERS, rows)
    else:
        statement = insert(LETTERS).returning(LETTERS.c.id, sort_by_parameter_order=True)
        ids = [int(r.id) for r in conn.execute(statement, [dict(r) for r in rows])]
    chains = records.letter_chains(conn, (int(r["case_id"]) for r in rows))
    prepared = [
        records.letter_prepared(
            chains[int(r["case_id"])], lid, int(r["task_id"]), str(r["template"]), str(r["html"]),
            r["prepared_at"],
        )
        for lid, r in zip(ids, rows, strict=True)
    ]  # fmt: skip
    records.append(conn, prepared, rows[0]["prepared_at"])
    return ids


#: What an erased letter's HTML says instead of its text.
ERASED = "<p>This letter's text was erased (data protection); its digest stays in the history.</p>"


def erase_letter(conn: Connection, letter_id: int, by: str, why: str, now: datetime) -> bool:
    """A letter's personal data erased (its HTML, PDF and kept figures), the erasure chained
    (``letter_erased``: who, a digest of why). The records that chained its content hold only
    digests, so every chain still verifies; ``audit verify`` then requires the erased text to
    be exactly ``ERASED`` with no PDF. A letter not yet sent becomes ``erased``: it can no
    longer be approved or sent. Refused (InputError) without a reason, and (ConflictError) when
    the letter was erased already. False when there is no such letter."""
    if not why.strip():
        raise InputError(f"letter {letter_id}: an erasure needs its reason")
    if letter_id in records.erased_letters(conn):
        raise ConflictError(f"letter {letter_id} was erased already; nothing was changed")
    l = LETTERS.c  # noqa: E741
    unsent = l.status.in_((LETTER_PREPARED, LETTER_APPROVED))
    changed = conn.execute(
        update(LETTERS)
        .where(l.id == letter_id)
        .values(
            html=ERASED, pdf=None, figures="{}",
            status=case((unsent, LETTER_ERASED), else_=l.status),
        )
    ).rowcount  # fmt: skip
    if changed == 1:
        chain = _chain_of_letter(conn, letter_id)
        records.append(conn, [records.letter_erased(chain, letter_id, by, why, now)], now)
    return bool(changed == 1)
