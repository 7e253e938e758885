"""What a replay and a case file read: a case's history, and a pupil's marks with their imports.

Marks come back with when each version reached the store (``imported_at``) and from which
import, which ``Store.load_marks`` leaves out: an auditor asks not only what the MIS recorded
when, but when the service could have known it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from escalation_flow.adapters.store.cases import CASES, history
from escalation_flow.adapters.store.models import Import, Mark, Pupil, table_of
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE, UNMARKED_CODE, UNMARKED_ID
from escalation_flow.core.marks import MarkTable, to_micros
from escalation_flow.errors import CalendarError, NotFoundError
from escalation_flow.stored import HistoryRow

IntArray = npt.NDArray[np.int64]
MARKS = table_of(Mark)
PUPILS = table_of(Pupil)
IMPORTS = table_of(Import)


@dataclass(frozen=True)
class StoredMarks:
    """Mark versions of a school (or one pupil) with their import times and ids."""

    table: MarkTable
    imported_at: IntArray  # UTC microseconds, per row
    import_id: IntArray


@dataclass(frozen=True)
class ImportInfo:
    id: int
    file_name: str
    imported_by: str
    finished_at: datetime


def case_pupils(conn: Connection, school_id: int) -> list[str]:
    """Every pupil of a school with a case row, sorted."""
    c = CASES.c
    query = select(c.pupil).where(c.school_id == school_id).order_by(c.pupil)
    return [str(p) for p in conn.execute(query).scalars()]


def case_records(
    conn: Connection, school_id: int, school: str, pupil: str
) -> tuple[dict[str, Any], list[HistoryRow]]:
    """The case row and its history records; ``NotFoundError`` when the pupil has no case."""
    c = CASES.c
    row = conn.execute(select(CASES).where(c.school_id == school_id, c.pupil == pupil)).first()
    if row is None:
        raise NotFoundError(f"pupil {pupil!r} has no case at school {school!r}")
    return dict(row._mapping), history(conn, row.id)


def stored_marks(
    conn: Connection,
    school_id: int,
    school: str,
    calendar: SchoolCalendar,
    pupils: Collection[str] | None = None,
) -> StoredMarks:
    """Every stored version of the marks of a school (or of ``pupils``) on the calendar's days."""
    m, p = MARKS.c, PUPILS.c
    query = (
        select(
            p.mis_id, m.date, m.session, m.code, m.recorded_at, m.minutes_late, m.imported_at,
            m.import_id, m.recorded_by,
        )
        .join(PUPILS, p.id == m.pupil_id)
        .where(m.school_id == school_id, m.date.between(calendar.first_day, calendar.last_day))
        .order_by(p.mis_id, m.date, m.session, m.recorded_at, m.code)
    )  # fmt: skip
    if pupils is not None:
        query = query.where(p.mis_id.in_(list(pupils)))
    rows = conn.execute(query).all()
    names = sorted({r.mis_id for r in rows})
    index = {name: i for i, name in enumerate(names)}
    recorded_by, recorders = _recorders([r.recorded_by for r in rows])
    table = MarkTable(
        school=school,
        pupils=tuple(names),
        pupil=np.array([index[r.mis_id] for r in rows], dtype=np.int32),
        session=np.array([_session(calendar, r) for r in rows], dtype=np.int32),
        code=np.array([_code(r.code) for r in rows], dtype=np.int8),
        recorded_at=np.array([to_micros(r.recorded_at) for r in rows], dtype=np.int64),
        minutes_late=np.array(
            [-1 if r.minutes_late is None else r.minutes_late for r in rows], dtype=np.int16
        ),
        recorded_by=recorded_by,
        recorders=recorders,
    )
    return StoredMarks(
        table,
        np.array([to_micros(r.imported_at) for r in rows], dtype=np.int64),
        np.array([r.import_id for r in rows], dtype=np.int64),
    )


def _recorders(
    values: list[str | None],
) -> tuple[npt.NDArray[np.int32] | None, tuple[str, ...]]:
    """The MIS users of the rows as ``MarkTable.recorded_by`` holds them (None: no one named)."""
    position: dict[str, int] = {}
    ids = [-1 if v is None else position.setdefault(v, len(position)) for v in values]
    if not position:
        return None, ()
    return np.array(ids, dtype=np.int32), tuple(position)


def imports(conn: Connection, ids: Collection[int]) -> Mapping[int, ImportInfo]:
    i = IMPORTS.c
    query = select(i.id, i.file_name, i.imported_by, i.finished_at).where(i.id.in_(list(ids)))
    return {
        r.id: ImportInfo(r.id, r.file_name, r.imported_by, r.finished_at)
        for r in conn.execute(query)
    }


def _session(calendar: SchoolCalendar, row: Any) -> int:
    try:
        return calendar.session_index(row.date, row.session)
    except CalendarError as exc:
        raise CalendarError(
            f"the store holds a mark on {row.date}, not a school day of calendar "
            f"{calendar.name}: {exc.summary}"
        ) from exc


def _code(code: str) -> int:
    return UNMARKED_ID if code == UNMARKED_CODE else ID_OF_CODE[code]
