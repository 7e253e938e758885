"""Marks between ``MarkTable`` columns and rows of the ``marks`` table, dialect-neutral parts.

An import stages one school's marks in a temporary table (the fastest way in: executemany on
SQLite, COPY on PostgreSQL), then moves them with two ``INSERT ... SELECT`` statements that skip
what is already stored. A row whose file gave no ``recorded_at`` is recorded at the import's
time, unless it repeats the session's current mark: then it says nothing new, and re-importing
such a file changes nothing either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    Date,
    Insert,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from escalation_flow.adapters.store.mark_texts import LOADED_SCHEMA as LOADED_SCHEMA
from escalation_flow.adapters.store.mark_texts import load_sql as load_sql
from escalation_flow.adapters.store.mark_texts import mark_parts as mark_parts
from escalation_flow.adapters.store.models import Mark, UtcDateTime, table_of
from escalation_flow.adapters.store.seal_columns import Field, SealColumns
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable, to_micros

IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

STAGING = Table(
    "incoming_marks",
    MetaData(),
    Column("school_id", Integer, nullable=False),
    Column("pupil_id", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("session", String(2), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=True),  # NULL: the file did not say
    Column("code", String(4), nullable=False),
    Column("minutes_late", SmallInteger, nullable=True),
    Column("recorded_by", String(100), nullable=True),  # NULL: the file did not say
    prefixes=["TEMPORARY"],
)
_SESSION_NAMES = np.array(["AM", "PM"], dtype=object)
_CODES = np.array(CODE_OF_ID, dtype=object)
_KEY = ("school_id", "pupil_id", "date", "session")


@dataclass(frozen=True)
class StoredColumns:
    """One school's marks in the marks table's terms, in primary-key order, as numbers: the
    texts (dates, sessions, codes, names) are made only by the writers that need them."""

    school_id: int
    pupil_id: IntArray
    session: IntArray  # 2 * school-day index + (0 AM, 1 PM), on ``days``
    days: tuple[dt.date, ...]  # the school's calendar days
    recorded_at: IntArray  # microseconds UTC; UNKNOWN_RECORDED_AT where the file did not say
    code: IntArray  # ids from ``core.codes``
    minutes_late: IntArray  # -1 where not given
    #: The MIS user of each row, an index into ``recorders`` (-1: not given); None when no row
    #: names anyone, so files without the column are written exactly as before.
    recorded_by: IntArray | None = None
    recorders: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.pupil_id)

    def where(self, mask: npt.NDArray[np.bool_]) -> StoredColumns:
        return replace(
            self,
            pupil_id=self.pupil_id[mask],
            session=self.session[mask],
            recorded_at=self.recorded_at[mask],
            code=self.code[mask],
            minutes_late=self.minutes_late[mask],
            recorded_by=None if self.recorded_by is None else self.recorded_by[mask],
        )

    def date_texts(self) -> ObjArray:
        """Each row's date, ISO."""
        iso = np.array([d.isoformat() for d in self.days], dtype=object)
        out: ObjArray = iso[self.session // 2]
        return out

    def session_texts(self) -> ObjArray:
        """Each row's session, "AM" or "PM"."""
        out: ObjArray = _SESSION_NAMES[self.session % 2]
        return out

    def code_texts(self) -> ObjArray:
        out: ObjArray = _CODES[self.code]
        return out

    def recorder_texts(self) -> ObjArray | None:
        """Each row's MIS user (None where not given); None when no row names anyone."""
        if self.recorded_by is None:
            return None
        # None appended last, so that -1 (unknown) picks it.
        names = np.array([*self.recorders, None], dtype=object)
        out: ObjArray = names[self.recorded_by]
        return out


def to_stored(
    table: MarkTable, calendar: SchoolCalendar, school_id: int, pupil_ids: IntArray
) -> StoredColumns:
    """``pupil_ids[i]`` is the database id of ``table.pupils[i]``."""
    pupil = pupil_ids[table.pupil]
    # Rows go in in primary-key order: the b-tree then only ever grows at its right edge.
    key = pupil * (calendar.n_sessions + 1) + table.session
    if len(key) > 1 and not (np.diff(key) >= 0).all():
        table = table.take(np.argsort(key, kind="stable"))
        pupil = pupil_ids[table.pupil]
    return StoredColumns(
        school_id=school_id,
        pupil_id=pupil,
        session=table.session.astype(np.int64),
        days=tuple(calendar.school_days),
        recorded_at=table.recorded_at.astype(np.int64, copy=False),
        code=table.code.astype(np.int64),
        minutes_late=table.minutes_late.astype(np.int64),
        recorded_by=None if table.recorded_by is None else table.recorded_by.astype(np.int64),
        recorders=table.recorders,
    )


def seal_columns_of(table: MarkTable, calendar: SchoolCalendar, now: dt.datetime) -> SealColumns:
    """The rows an import of ``table`` stores, as its seal reads them (``seals.MarkRow``), when
    every row is new: a row without ``recorded_at`` is stored as recorded at ``now``."""
    session = table.session.astype(np.int64)
    stamp = to_micros(now)
    recorded = table.recorded_at.astype(np.int64)
    return SealColumns(
        pupil=Field(table.pupils, table.pupil),
        day=Field([d.isoformat() for d in calendar.school_days], session // 2),
        session=Field(["AM", "PM"], session % 2),
        code=Field(list(CODE_OF_ID), table.code),
        recorded_at=np.where(recorded == UNKNOWN_RECORDED_AT, stamp, recorded),
        minutes_late=table.minutes_late.astype(np.int64),
        imported_at=np.full(len(session), stamp, dtype=np.int64),
        recorded_by=None
        if table.recorded_by is None
        else Field(table.recorders, table.recorded_by),
    )


def insert_statements(dialect: str, now: dt.datetime, import_id: int) -> tuple[Insert, Insert]:
    """From the staging table into ``marks``: rows with their own ``recorded_at``, then rows
    without one (recorded now, unless they repeat the session's current mark)."""
    marks = table_of(Mark)
    s = STAGING.c
    stamp = literal(now, UtcDateTime())
    target = [
        *_KEY, "recorded_at", "code", "minutes_late", "imported_at", "import_id", "recorded_by",
    ]  # fmt: skip
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    known = select(
        s.school_id,
        s.pupil_id,
        s.date,
        s.session,
        s.recorded_at,
        s.code,
        s.minutes_late,
        stamp,
        literal(import_id),
        s.recorded_by,
    ).where(s.recorded_at.is_not(None))
    latest = marks.alias("latest")
    # Correlated to the staged row two levels up: left to itself, SQLAlchemy correlates only
    # with the EXISTS around it and joins the whole staging table in, making one newest time
    # for every staged row (a mark repeated without its time was then stored again, unless its
    # session's newest time happened to be that one).
    newest = (
        select(func.max(latest.c.recorded_at))
        .where(*[latest.c[k] == s[k] for k in _KEY])
        .correlate(STAGING)
        .scalar_subquery()
    )
    repeats_current = exists().where(
        *[marks.c[k] == s[k] for k in _KEY],
        marks.c.recorded_at == newest,
        marks.c.code == s.code,
        marks.c.minutes_late.is_not_distinct_from(s.minutes_late),
    )
    unknown = select(
        s.school_id,
        s.pupil_id,
        s.date,
        s.session,
        stamp,
        s.code,
        s.minutes_late,
        stamp,
        literal(import_id),
        s.recorded_by,
    ).where(s.recorded_at.is_(None), ~repeats_current)
    # SQLAlchemy reports the rows an INSERT touched only when asked to.
    return (
        insert(marks)
        .from_select(target, known)
        .on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True),
        insert(marks)
        .from_select(target, unknown)
        .on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True),
    )


def to_mark_table(
    school: str, calendar: SchoolCalendar, rows: pa.Table, names: dict[int, str]
) -> MarkTable:
    """Loaded rows (``LOADED_SCHEMA``) into a ``MarkTable``; ``names`` maps pupil ids to MIS ids."""
    if rows.num_rows == 0:
        return MarkTable.empty(school)
    ids, pupil = np.unique(_ints(rows, "pupil_id"), return_inverse=True)
    encoded = pc.dictionary_encode(rows.column("mark")).combine_chunks()
    session, code = mark_parts(calendar, [str(v) for v in encoded.dictionary.to_pylist()])
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return MarkTable(
        school=school,
        pupils=tuple(names[int(i)] for i in ids),
        pupil=pupil.astype(np.int32),
        session=session[indices],
        code=code[indices],
        recorded_at=_ints(rows, "recorded_at"),
        minutes_late=_ints(rows, "minutes").astype(np.int16),
    )


def _ints(rows: pa.Table, name: str) -> IntArray:
    return np.asarray(rows.column(name).to_numpy(), dtype=np.int64)
