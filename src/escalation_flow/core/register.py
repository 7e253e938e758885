"""A school's register as a grid: ``codes[pupil, session]`` as known at a time, and who was on roll.

``MarkTable`` keeps every version of every mark; a ``RegisterGrid`` is one reading of it: for
each pupil and session the version with the greatest ``recorded_at`` at or before the time asked
(ties: the later row in the source wins), ``0`` where nothing is known. Rows whose file did not
say when they were recorded get a time the caller chooses explicitly (``AssumeRecordedAt`` an
instant such as the time of import, or ``AssumeRecordedAtEndOfDay`` of the session's own day).

The roster, when there is one, bounds each pupil's possible sessions (admission to leaving, both
inclusive) and gives the span of compulsory school age; a pupil without a roster entry is on roll
for the whole calendar and of compulsory school age.

The same reading, moved forward one school day at a time for a backtest, is
``core.timeline.KnownAtTimeline``; running counts over a grid are ``core.session_counts``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import TypeAlias
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable, Roster, to_micros
from escalation_flow.core.school_age import compulsory_school_age_span
from escalation_flow.errors import CalendarError, NotFoundError

IntArray: TypeAlias = npt.NDArray[np.int64]
IndexArray: TypeAlias = npt.NDArray[np.intp]


@dataclass(frozen=True)
class AssumeRecordedAt:
    """Marks without ``recorded_at`` count as recorded at this instant (e.g. the time of import)."""

    instant: datetime

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("AssumeRecordedAt needs a timezone-aware instant")


@dataclass(frozen=True)
class AssumeRecordedAtEndOfDay:
    """Marks without ``recorded_at`` count as recorded at the end of their session's school day,
    in the school's timezone (what a register taken on the day looks like)."""


UnknownRecordedAt: TypeAlias = AssumeRecordedAt | AssumeRecordedAtEndOfDay


def day_end_micros(calendar: SchoolCalendar) -> IntArray:
    """For each school day, its last microsecond in the school's timezone (UTC micros)."""
    zone = ZoneInfo(calendar.timezone)
    ends = [
        to_micros(datetime.combine(d + timedelta(days=1), time(0), tzinfo=zone)) - 1
        for d in calendar.school_days
    ]
    return np.asarray(ends, dtype=np.int64)


def resolve_recorded_at(
    marks: MarkTable, calendar: SchoolCalendar, unknown: UnknownRecordedAt
) -> IntArray:
    """Every row's ``recorded_at`` with the unknown ones replaced as the caller chose."""
    recorded = marks.recorded_at.astype(np.int64, copy=True)
    missing = recorded == UNKNOWN_RECORDED_AT
    if missing.any():
        if isinstance(unknown, AssumeRecordedAt):
            recorded[missing] = to_micros(unknown.instant)
        else:
            recorded[missing] = day_end_micros(calendar)[marks.session[missing] // 2]
    return recorded


@dataclass(frozen=True)
class Enrolment:
    """Per pupil: the possible sessions (inclusive) and the span of compulsory school age.

    ``first_session > last_session`` means never on roll within the calendar. School-age bounds
    are ``date.toordinal()`` values, inclusive.
    """

    first_session: npt.NDArray[np.int32]
    last_session: npt.NDArray[np.int32]
    school_age_from: IntArray
    school_age_until: IntArray
    n_sessions: int

    @property
    def whole_calendar(self) -> bool:
        """True when every pupil is on roll for every session (no bounds to apply)."""
        return bool(
            np.all(self.first_session <= 0) and np.all(self.last_session >= self.n_sessions - 1)
        )

    def outside(
        self, first: int, last: int, pupils: slice | IndexArray = slice(None)
    ) -> npt.NDArray[np.bool_]:
        """``(pupils, last - first + 1)``: True where the session is outside the pupil's roll."""
        s = np.arange(first, last + 1, dtype=np.int32)[None, :]
        return (s < self.first_session[pupils, None]) | (s > self.last_session[pupils, None])


def enrolment_of(
    pupils: tuple[str, ...], calendar: SchoolCalendar, roster: Roster | None
) -> Enrolment:
    """Bounds from the roster; a pupil it does not list is on roll throughout."""
    n = len(pupils)
    first = np.zeros(n, dtype=np.int32)
    last = np.full(n, calendar.n_sessions - 1, dtype=np.int32)
    age_from = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    age_until = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    records = roster.pupils if roster is not None else {}
    # One pass over the roster's records, which are Python objects: set-up, not fact work.
    for i, pupil in enumerate(pupils):
        record = records.get(pupil)
        if record is None:
            continue
        if record.admitted is not None:
            first[i] = 2 * bisect.bisect_left(calendar.school_days, record.admitted)
        if record.left is not None:
            last[i] = 2 * calendar.index_on_or_before(record.left) + 1
        if record.date_of_birth is not None:
            start, end = compulsory_school_age_span(record.date_of_birth)
            age_from[i], age_until[i] = start.toordinal(), end.toordinal()
    return Enrolment(first, last, age_from, age_until, calendar.n_sessions)


@dataclass(frozen=True)
class RegisterGrid:
    """``codes[pupil, session]`` (``int8`` ids from ``core.codes``; 0 = unmarked) of one school.

    Whoever built it may update ``codes`` in place (``KnownAtTimeline`` does, day by day).
    """

    school: str
    pupils: tuple[str, ...]
    codes: npt.NDArray[np.int8]
    enrolment: Enrolment
    #: marks were left out as recorded after the instant asked (a simulation's later days): the
    #: same marks read later give another register, so figures counted from it are not kept
    later_marks: bool = False

    @cached_property
    def _index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.pupils)}

    @property
    def n_pupils(self) -> int:
        return len(self.pupils)

    @property
    def n_sessions(self) -> int:
        return int(self.codes.shape[1])

    def pupil_index(self, pupil: str) -> int:
        try:
            return self._index[pupil]
        except KeyError:
            raise NotFoundError(
                f"pupil {pupil!r} has no marks and no roster entry at school {self.school!r}"
            ) from None


def grid_pupils(marks: MarkTable, roster: Roster | None) -> tuple[str, ...]:
    """The marks' pupils in their order, then roster pupils without marks, sorted."""
    known = set(marks.pupils)
    extra = sorted(p for p in (roster.pupils if roster else {}) if p not in known)
    return (*marks.pupils, *extra)


def check_sessions(marks: MarkTable, calendar: SchoolCalendar) -> None:
    if len(marks) and (marks.session.min() < 0 or marks.session.max() >= calendar.n_sessions):
        raise CalendarError(
            f"marks of school {marks.school} hold sessions outside calendar {calendar.name}"
        )


def last_of_sorted_cells(
    cell: IntArray, recorded_at: IntArray, rows: IndexArray
) -> IndexArray | None:
    """``latest_per_cell``'s rows when ``rows`` already come in cell order and, within a cell,
    in order of ``recorded_at``: the last row of each cell's run is then its latest (ties: the
    later row), with no count of every cell and no sort. The store's marks come so (its load
    order: pupil, session, recorded_at, code), so a daemon's evening finds each school's year
    in a few passes; None when the rows are not in that order."""
    if rows.size == 0:
        return rows
    c, r = cell[rows], recorded_at[rows]
    same = c[1:] == c[:-1]
    if not (np.all(c[1:] >= c[:-1]) and np.all(r[1:][same] >= r[:-1][same])):
        return None
    last = np.ones(rows.size, dtype=bool)
    last[:-1] = ~same
    return rows[last]


def latest_per_cell(
    cell: IntArray,
    recorded_at: IntArray,
    rows: IndexArray,
    n_cells: int,
    batch: IntArray | None = None,
) -> IndexArray:
    """Of ``rows`` (increasing row numbers), per cell (and per batch, when given) the row with the
    greatest ``recorded_at``; ties: the later row. Only cells with several rows pay for a sort."""
    if rows.size == 0:
        return rows
    shared = np.bincount(cell[rows], minlength=n_cells)[cell[rows]] > 1
    if not shared.any():
        return rows
    dup = rows[shared]
    sort_keys = [dup, recorded_at[dup], cell[dup]]
    if batch is not None:
        sort_keys.append(batch[dup])
    dup = dup[np.lexsort(sort_keys)]
    last = np.ones(dup.size, dtype=bool)
    last[:-1] = cell[dup][1:] != cell[dup][:-1]
    if batch is not None:
        last[:-1] |= batch[dup][1:] != batch[dup][:-1]
    keep = np.zeros(cell.shape[0], dtype=bool)
    keep[rows[~shared]] = True
    keep[dup[last]] = True
    return np.flatnonzero(keep)


def register_as_known_at(
    marks: MarkTable,
    calendar: SchoolCalendar,
    *,
    known_at: datetime | None,
    unknown_recorded_at: UnknownRecordedAt,
    roster: Roster | None = None,
) -> RegisterGrid:
    """The register as known at ``known_at`` (``None``: every row), for all pupils at once."""
    check_sessions(marks, calendar)
    pupils = grid_pupils(marks, roster)
    recorded = resolve_recorded_at(marks, calendar, unknown_recorded_at)
    limit = None if known_at is None else to_micros(known_at)
    rows = np.arange(len(marks), dtype=np.intp)
    if limit is not None:
        rows = rows[recorded[rows] <= limit]
    later = len(rows) < len(marks)
    cell = marks.pupil.astype(np.int64) * calendar.n_sessions + marks.session
    last = last_of_sorted_cells(cell, recorded, rows)
    if last is None:
        rows = latest_per_cell(cell, recorded, rows, len(pupils) * calendar.n_sessions)
    else:
        rows = last
    codes = np.zeros((len(pupils), calendar.n_sessions), dtype=np.int8)
    codes[marks.pupil[rows], marks.session[rows]] = marks.code[rows]
    return RegisterGrid(
        school=marks.school,
        pupils=pupils,
        codes=codes,
        enrolment=enrolment_of(pupils, calendar, roster),
        later_marks=later,
    )
