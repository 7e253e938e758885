"""One pupil's register as it was known at any moment: the facts a replay re-runs a flow on.

A ``Cut`` says what was known: every mark version recorded (in the MIS) at or before
``known_at``, and, when ``imported_by`` is given, only those already in the store by then (a
mark the MIS recorded before a decision but that reached us after it was not known to the
service, whatever its ``recorded_at`` says). ``Cut.NOW`` is everything stored today.

Pure: the marks come in as a ``MarkTable`` (with, optionally, when each row was imported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.contacts import as_known_at as contacts_known_at
from escalation_flow.core.facts import DayWindows, FactTable, KnownFacts
from escalation_flow.core.marks import MarkTable, Roster, from_micros, to_micros
from escalation_flow.core.penalty_notices import NoticeVersion, pupil_facts
from escalation_flow.core.penalty_notices import as_known_at as notices_known_at
from escalation_flow.core.register import (
    AssumeRecordedAtEndOfDay,
    RegisterGrid,
    UnknownRecordedAt,
    register_as_known_at,
    resolve_recorded_at,
)
from escalation_flow.core.session_counts import CumulativeCounts

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Cut:
    """What was known: marks recorded by ``known_at`` (None: all), imported by ``imported_by``."""

    known_at: datetime | None
    imported_by: datetime | None = None

    def describe(self) -> str:
        if self.known_at is None:
            return "as known now"
        text = f"as known at {self.known_at.isoformat()}"
        return f"{text}, imported by then" if self.imported_by is not None else text


NOW = Cut(None)


@dataclass(frozen=True)
class MarkVersion:
    """One version of one session's mark."""

    day: date
    session: str  # "AM" | "PM"
    code: str
    recorded_at: datetime
    imported_at: datetime | None = None
    import_id: int | None = None
    recorded_by: str | None = None  # the MIS user, where the register export said


@dataclass(frozen=True)
class MarkChange:
    """A session whose mark is not what it was at a cut: what was known then, what is known now."""

    day: date
    session: str
    code_then: str  # "-" where nothing was known
    code_now: str
    recorded_at: datetime | None  # when the MIS recorded today's version
    imported_at: datetime | None = None
    recorded_by: str | None = None  # who recorded today's version in the MIS, where known

    def text(self) -> str:
        when = f", recorded {self.recorded_at.isoformat()}" if self.recorded_at else ""
        by = f" by {self.recorded_by}" if self.recorded_by else ""
        return f"{self.day.isoformat()} {self.session} {self.code_then}→{self.code_now}{when}{by}"


class PupilMarkHistory:
    """Every stored version of one pupil's marks, read as a register at any cut (grids and
    facts cached): what replay, the quiet evenings and the chronology ask what was known."""

    def __init__(
        self,
        marks: MarkTable,
        pupil: str,
        calendar: SchoolCalendar,
        *,
        roster: Roster | None = None,
        imported_at: IntArray | None = None,
        import_id: IntArray | None = None,
        unknown_recorded_at: UnknownRecordedAt | None = None,
        notices: Sequence[NoticeVersion] = (),
        contacts: Sequence[ContactVersion] = (),
    ) -> None:
        self.pupil = pupil
        #: the pupil's penalty notices and contacts, every version: read at each cut as the
        #: evening read them (``service.notice_facts``)
        self.notices = tuple(notices)
        self.contacts = tuple(contacts)
        self.calendar = calendar
        self._roster = _roster_of(roster, pupil)
        rows = _rows_of(marks, pupil)
        self.marks = replace(marks.take(rows), pupils=(pupil,), pupil=np.zeros(rows.size, np.int32))
        self._unknown = unknown_recorded_at or AssumeRecordedAtEndOfDay()
        self.recorded_at = resolve_recorded_at(self.marks, calendar, self._unknown)
        self.imported_at = None if imported_at is None else imported_at[rows]
        self.import_id = None if import_id is None else import_id[rows]
        self._windows = DayWindows.of(calendar)
        self._grids: dict[bytes, RegisterGrid] = {}
        self._counts: dict[tuple[bytes, int], KnownFacts] = {}

    # -- reading at a cut ---------------------------------------------------------------------

    def known(self, cut: Cut) -> npt.NDArray[np.bool_]:
        """Which mark versions were known at ``cut``."""
        keep = np.ones(len(self.marks), dtype=bool)
        if cut.known_at is not None:
            keep &= self.recorded_at <= to_micros(cut.known_at)
        if cut.imported_by is not None and self.imported_at is not None:
            keep &= self.imported_at <= to_micros(cut.imported_by)
        return keep

    def grid(self, cut: Cut) -> RegisterGrid:
        key = self._key(cut)
        if key not in self._grids:
            keep = self.known(cut)
            # Resolved instants: a row without recorded_at counts the same in every cut.
            table = replace(self.marks.take(keep), recorded_at=self.recorded_at[keep])
            self._grids[key] = register_as_known_at(
                table,
                self.calendar,
                known_at=None,
                unknown_recorded_at=self._unknown,
                roster=self._roster,
            )
        return self._grids[key]

    def counts(self, cut: Cut, day: int | None = None) -> CumulativeCounts:
        """Running counts at ``cut`` through school day ``day`` (None: the whole calendar)."""
        return self._known(cut, day).counts

    def facts(self, cut: Cut, day: int, min_possible_sessions: int) -> FactTable:
        """Every register fact at the end of school day ``day``, with the marks known at ``cut``
        (``min_possible_sessions``: the flow version's, before a percentage counts), as the
        service reads them (``core.facts.KnownFacts``), with the penalty-notice register's facts
        as known at the cut."""
        table = self._known(cut, day).at(day, min_possible_sessions)
        if not self.notices:
            return table
        notices = notices_known_at(self.notices, cut.known_at)
        parents = [
            c.contact
            for c in contacts_known_at(self.contacts, cut.known_at)
            if c.parental_responsibility and c.pupil == self.pupil
        ]
        values = pupil_facts(notices, table.school, self.pupil, parents, table.as_of)
        extra = {name: np.array([value]) for name, value in values.items()}
        return replace(table, values={**table.values, **extra})

    def _known(self, cut: Cut, day: int | None) -> KnownFacts:
        # Counts and facts through a day rest on that day's sessions and the ones before: cuts
        # that agree on those (most do: amendments are rare) share them.
        grid = self.grid(cut)
        last = self.calendar.n_days - 1 if day is None else day
        key = (grid.codes[0, : 2 * last + 2].tobytes(), last)
        if key not in self._counts:
            counts = CumulativeCounts(grid, self.calendar, through_day=last)
            self._counts[key] = KnownFacts(counts, self._windows)
        return self._counts[key]

    def _key(self, cut: Cut) -> bytes:
        # Many cuts know the same rows (nothing is recorded overnight): they share one reading.
        return np.packbits(self.known(cut)).tobytes()

    def codes(self, cut: Cut) -> list[str]:
        """The code of every session of the calendar at ``cut`` ("-": nothing known)."""
        return [CODE_OF_ID[int(c)] for c in self.grid(cut).codes[0]]

    # -- what changed --------------------------------------------------------------------------

    def changes(self, then: Cut, now: Cut, through_day: int) -> tuple[MarkChange, ...]:
        """Sessions up to the end of ``through_day`` whose mark differs between two cuts."""
        last = 2 * through_day + 2
        before = self.grid(then).codes[0, :last]
        after = self.grid(now).codes[0, :last]
        out = []
        for s in np.flatnonzero(before != after).tolist():
            version = self._latest(s, now)
            out.append(
                MarkChange(
                    day=self.calendar.school_days[s // 2],
                    session="AM" if s % 2 == 0 else "PM",
                    code_then=CODE_OF_ID[int(before[s])],
                    code_now=CODE_OF_ID[int(after[s])],
                    recorded_at=version.recorded_at if version else None,
                    imported_at=version.imported_at if version else None,
                    recorded_by=version.recorded_by if version else None,
                )
            )
        return tuple(out)

    def versions(self) -> list[list[MarkVersion]]:
        """Per session with more than one version: every version, oldest first (amendments)."""
        out = []
        for s in np.unique(self.marks.session).tolist():
            rows = self._rows_of_session(int(s))
            codes = [int(self.marks.code[r]) for r in rows]
            if len(rows) > 1 and len(set(codes)) > 1:
                out.append([self._version(r) for r in rows])
        return out

    def last_marked_day(self) -> int:
        """The last school day with a mark known now (-1: none)."""
        marked = self.grid(NOW).codes[0].nonzero()[0]
        return int(marked[-1]) // 2 if marked.size else -1

    def attendance_series(self, cut: Cut = NOW) -> FloatArray:
        """Attendance year to date at the end of every school day (NaN: nothing possible yet)."""
        counts = self.counts(cut)
        out = np.full(self.calendar.n_days, np.nan)
        for year in self.calendar.year_periods:
            for day in range(year.first, year.last + 1):
                pct = counts.attendance_pct_between(
                    2 * year.first, 2 * day + 1, min_possible_sessions=1
                )
                out[day] = pct[0]
        return out

    # -- helpers -------------------------------------------------------------------------------

    def _rows_of_session(self, session: int) -> list[int]:
        rows = np.flatnonzero(self.marks.session == session)
        # Oldest first; ties keep the source order (the later row is the newer version).
        return [int(r) for r in rows[np.argsort(self.recorded_at[rows], kind="stable")]]

    def _latest(self, session: int, cut: Cut) -> MarkVersion | None:
        rows = self._rows_of_session(session)
        if cut.known_at is not None:
            rows = [r for r in rows if self.recorded_at[r] <= to_micros(cut.known_at)]
        return self._version(rows[-1]) if rows else None

    def _version(self, row: int) -> MarkVersion:
        s = int(self.marks.session[row])
        imported = None if self.imported_at is None else from_micros(int(self.imported_at[row]))
        source = None if self.import_id is None else int(self.import_id[row])
        return MarkVersion(
            day=self.calendar.school_days[s // 2],
            session="AM" if s % 2 == 0 else "PM",
            code=CODE_OF_ID[int(self.marks.code[row])],
            recorded_at=from_micros(int(self.recorded_at[row])),
            imported_at=imported,
            import_id=source,
            recorded_by=self.marks.recorder(row),
        )


def _rows_of(marks: MarkTable, pupil: str) -> npt.NDArray[np.intp]:
    if pupil not in marks.pupils:
        return np.empty(0, np.intp)
    return np.flatnonzero(marks.pupil == marks.pupils.index(pupil))


def _roster_of(roster: Roster | None, pupil: str) -> Roster | None:
    if roster is None or pupil not in roster.pupils:
        return None
    return Roster(roster.school, {pupil: roster.pupils[pupil]})
