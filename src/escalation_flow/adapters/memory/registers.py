"""Registers in memory: imports of marks and rosters, and a school's register as known at an
instant, read as the SQL store reads it (``adapters/store/marks_reader``).

Marks are bitemporal here too: every version is kept, keyed as the ``marks`` table is (pupil,
day, session, recorded_at, code), and a row whose file gave no ``recorded_at`` is recorded at
the import's time unless it repeats the session's current mark. Seals are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import TracebackType

import numpy as np

from escalation_flow.adapters.memory.tables import ImportRec, MarkRec, Tables, utc
from escalation_flow.adapters.register_files import MarksRead
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.marks import (
    UNKNOWN_RECORDED_AT,
    MarkTable,
    PupilRecord,
    Roster,
    to_micros,
)
from escalation_flow.core.register import AssumeRecordedAt, register_as_known_at
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import Amended
from escalation_flow.stored import SchoolRead

Cell = tuple[str, date, int]  # pupil, day, session (0 AM, 1 PM)


def school_id_of(tables: Tables, school: str) -> int:
    found = tables.schools.get(school)
    if found is None:
        raise NotFoundError(
            f"school(s) {school} not in the store; add them from the trust file first"
        )
    return found.id


def import_marks(tables: Tables, result: MarksRead, now: datetime, finished: datetime) -> int:
    """Add one file's marks to ``tables`` (a unit of work's copy); the rows new to the store."""
    now = utc(now)
    import_id = tables.next_id("imports")
    imported = 0
    for school, table in result.tables.items():
        sid = school_id_of(tables, school)
        known = tables.pupils.setdefault(sid, {})
        for pupil in table.pupils:
            known.setdefault(pupil, PupilRecord(school=school, pupil=pupil))
        new = _new_rows(tables.marks.get(sid, ()), table, result.calendars[school], now)
        tables.marks[sid] = (
            *tables.marks.get(sid, ()),
            *(MarkRec(*row, imported_at=now, import_id=import_id) for row in new),
        )
        imported += len(new)
    tables.imports = (*tables.imports, ImportRec(import_id, "marks", utc(finished)))
    tables.written = True
    return imported


def _new_rows(
    stored: tuple[MarkRec, ...], table: MarkTable, calendar: SchoolCalendar, now: datetime
) -> list[tuple[str, date, int, int, int, int]]:
    """(pupil, day, session, recorded_at, code, minutes_late) of the rows not stored yet: rows
    with their own ``recorded_at`` first, then those without (recorded ``now``)."""
    keys = {(m.pupil, m.day, m.session, m.recorded_at, m.code) for m in stored}
    latest: dict[Cell, list[tuple[int, int, int]]] = {}
    for m in stored:
        _keep_latest(latest, (m.pupil, m.day, m.session), (m.recorded_at, m.code, m.minutes_late))
    rows = [
        (
            table.pupils[int(table.pupil[i])],
            calendar.school_days[int(table.session[i]) // 2],
            int(table.session[i]) % 2,
            int(table.recorded_at[i]),
            int(table.code[i]),
            int(table.minutes_late[i]),
        )
        for i in range(len(table))
    ]
    new: list[tuple[str, date, int, int, int, int]] = []
    for row in sorted(rows, key=lambda r: r[3] == UNKNOWN_RECORDED_AT):
        pupil, day, session, recorded, code, late = row
        if recorded == UNKNOWN_RECORDED_AT:
            current = latest.get((pupil, day, session), [])
            if (code, late) in [(c, m) for _, c, m in current]:
                continue  # repeats the session's current mark: nothing new
            recorded = to_micros(now)
        if (pupil, day, session, recorded, code) in keys:
            continue
        keys.add((pupil, day, session, recorded, code))
        _keep_latest(latest, (pupil, day, session), (recorded, code, late))
        new.append((pupil, day, session, recorded, code, late))
    return new


def _keep_latest(
    latest: dict[Cell, list[tuple[int, int, int]]], cell: Cell, mark: tuple[int, int, int]
) -> None:
    """The marks recorded at the cell's newest instant (several when they tie)."""
    held = latest.get(cell)
    if not held or mark[0] > held[0][0]:
        latest[cell] = [mark]
    elif mark[0] == held[0][0]:
        held.append(mark)


def import_roster(tables: Tables, rosters: Mapping[str, Roster], finished: datetime) -> int:
    """Add or update the pupils of a roster file (a later roster wins); the pupils new."""
    before = sum(len(p) for p in tables.pupils.values())
    for school, roster in rosters.items():
        known = tables.pupils.setdefault(school_id_of(tables, school), {})
        known.update(roster.pupils)
    tables.imports = (
        *tables.imports,
        ImportRec(tables.next_id("imports"), "roster", utc(finished)),
    )
    tables.written = True
    return sum(len(p) for p in tables.pupils.values()) - before


def load_roster(tables: Tables, school: str) -> Roster:
    known = tables.pupils.get(school_id_of(tables, school), {})
    return Roster(school, dict(known))


class MemoryRegisterReader:
    """``ports.RegisterSource`` over the store's committed tables (nothing to read ahead)."""

    def __init__(self, tables: Callable[[], Tables]) -> None:
        self._tables = tables

    def __enter__(self) -> MemoryRegisterReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def ahead(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> None:
        return None

    def read(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> SchoolRead:
        tables = self._tables()
        sid = school_id_of(tables, school)
        roster = load_roster(tables, school)
        marks = mark_table(tables, sid, school, calendar)
        grid = register_as_known_at(
            marks,
            calendar,
            known_at=known_at,
            unknown_recorded_at=AssumeRecordedAt(known_at),
            roster=roster,
        )
        return SchoolRead(grid, roster, _amended(tables, sid, amended))


def mark_table(tables: Tables, sid: int, school: str, calendar: SchoolCalendar) -> MarkTable:
    """Every stored version of the school's marks on the calendar's days, in the SQL store's
    order (pupil as first seen, day, session, recorded_at, code)."""
    order = {p: i for i, p in enumerate(tables.pupils.get(sid, {}))}
    rows = [
        m for m in tables.marks.get(sid, ()) if calendar.first_day <= m.day <= calendar.last_day
    ]
    rows.sort(key=lambda m: (order[m.pupil], m.day, m.session, m.recorded_at, CODE_OF_ID[m.code]))
    if not rows:
        return MarkTable.empty(school)
    pupils = tuple(sorted({m.pupil for m in rows}, key=order.__getitem__))
    index = {p: i for i, p in enumerate(pupils)}
    return MarkTable(
        school=school,
        pupils=pupils,
        pupil=np.array([index[m.pupil] for m in rows], dtype=np.int32),
        session=np.array([2 * calendar.day_index(m.day) + m.session for m in rows], dtype=np.int32),
        code=np.array([m.code for m in rows], dtype=np.int8),
        recorded_at=np.array([m.recorded_at for m in rows], dtype=np.int64),
        minutes_late=np.array([m.minutes_late for m in rows], dtype=np.int16),
    )


def _amended(tables: Tables, sid: int, amended: Amended | None) -> frozenset[str]:
    """Pupils with marks of days before ``before`` imported by imports finished in
    (since, until]."""
    if amended is None:
        return frozenset()
    since, until, before = amended
    recent = {i.id for i in tables.imports if since < i.finished_at <= until}
    return frozenset(
        m.pupil for m in tables.marks.get(sid, ()) if m.import_id in recent and m.day < before
    )
