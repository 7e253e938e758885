"""The register as it became known, school day by school day: what a backtest replays.

After ``advance_to(d)`` the grid holds every mark as known at the end of school day ``d`` in the
school's timezone: for each pupil and session the version with the greatest ``recorded_at`` up
to that instant. Each step applies only the rows that became known since the last one (first
recordings, late recordings and amendments), so a year of days costs about one pass over the
marks. The running counts follow: today's two sessions are appended for everyone, and only the
pupils whose earlier marks changed are recounted.

Each step names the pupils whose marks for sessions *before* the step's day changed: the engine
re-evaluates those (an ``N`` that became an ``I``, a register filled in late).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.facts import (
    DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    DayWindows,
    FactTable,
    facts_from_counts,
)
from escalation_flow.core.marks import MarkTable, Roster, from_micros
from escalation_flow.core.register import (
    RegisterGrid,
    UnknownRecordedAt,
    check_sessions,
    day_end_micros,
    enrolment_of,
    grid_pupils,
    latest_per_cell,
    resolve_recorded_at,
)
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.errors import CalendarError


@dataclass(frozen=True)
class TimelineStep:
    """What one move of the timeline did."""

    day_index: int
    known_at: datetime  # the end of the day in the school's timezone, as UTC
    rows_applied: int
    #: Pupils (indices into ``grid.pupils``) whose marks for sessions before this day changed.
    amended_pupils: npt.NDArray[np.intp]


class KnownAtTimeline:
    """A register grid and its running counts, moved forward one school day at a time."""

    def __init__(
        self,
        marks: MarkTable,
        calendar: SchoolCalendar,
        *,
        unknown_recorded_at: UnknownRecordedAt,
        roster: Roster | None = None,
    ) -> None:
        check_sessions(marks, calendar)
        pupils = grid_pupils(marks, roster)
        self.calendar = calendar
        self._day_ends = day_end_micros(calendar)
        recorded = resolve_recorded_at(marks, calendar, unknown_recorded_at)
        # The school day at whose end each row is first known (n_days: never, within the calendar).
        known_day = np.searchsorted(self._day_ends, recorded, side="left").astype(np.int64)
        cell = marks.pupil.astype(np.int64) * calendar.n_sessions + marks.session
        rows = np.arange(len(marks), dtype=np.intp)
        rows = latest_per_cell(
            cell, recorded, rows, len(pupils) * calendar.n_sessions, batch=known_day
        )
        rows = rows[known_day[rows] < calendar.n_days]
        # A small integer type lets the stable sort be a radix sort.
        batches = known_day[rows].astype(np.int16 if calendar.n_days < 2**15 else np.int32)
        rows = rows[np.argsort(batches, kind="stable")]
        self._pupil = marks.pupil[rows].astype(np.intp)
        self._session = marks.session[rows].astype(np.intp)
        self._code = marks.code[rows]
        #: Rows ``[0, batch_end[d])`` are known by the end of day ``d``.
        self._batch_end = np.searchsorted(known_day[rows], np.arange(calendar.n_days), "right")
        codes = np.zeros((len(pupils), calendar.n_sessions), dtype=np.int8)
        self.grid = RegisterGrid(
            marks.school, pupils, codes, enrolment_of(pupils, calendar, roster)
        )
        self.counts = CumulativeCounts(self.grid, calendar, through_day=-1)
        self.day_index = -1
        self._applied = 0
        self._windows = DayWindows.of(calendar)

    @property
    def known_at(self) -> datetime | None:
        """The instant the grid is read as of (``None`` before the first step)."""
        return None if self.day_index < 0 else from_micros(int(self._day_ends[self.day_index]))

    def advance(self) -> TimelineStep:
        return self.advance_to(self.day_index + 1)

    def advance_to(self, day: int) -> TimelineStep:
        """Move to the end of school day ``day`` (later than the current one)."""
        if not self.day_index < day < self.calendar.n_days:
            raise CalendarError(
                f"the timeline is at school day {self.day_index}; it cannot move to day {day} "
                f"of calendar {self.calendar.name} (0..{self.calendar.n_days - 1})"
            )
        start = self._applied
        changed_pupils: list[npt.NDArray[np.intp]] = []
        changed_sessions: list[npt.NDArray[np.intp]] = []
        # Batch by batch: within one day's rows every cell appears once, across days it may not.
        for d in range(self.day_index + 1, day + 1):
            pupils, sessions = self._apply(self._applied, int(self._batch_end[d]))
            changed_pupils.append(pupils)
            changed_sessions.append(sessions)
            self._applied = int(self._batch_end[d])
        pupils = np.concatenate(changed_pupils)
        sessions = np.concatenate(changed_sessions)
        counted = sessions <= self.counts.last_session
        if counted.any():  # recounted from the earliest day whose marks changed
            earliest = int(sessions[counted].min()) // 2
            self.counts.refresh(np.unique(pupils[counted]), from_day=earliest)
        self.counts.extend_to(day)
        self.day_index = day
        return TimelineStep(
            day_index=day,
            known_at=from_micros(int(self._day_ends[day])),
            rows_applied=self._applied - start,
            amended_pupils=np.unique(pupils[sessions < 2 * day]),
        )

    def steps(self, first_day: int = 0, last_day: int | None = None) -> Iterator[TimelineStep]:
        """Move to ``first_day``, then one school day at a time through ``last_day``."""
        last = self.calendar.n_days - 1 if last_day is None else last_day
        yield self.advance_to(first_day)
        while self.day_index < last:
            yield self.advance()

    def facts(
        self,
        *,
        min_possible_sessions_ytd: int,
        min_possible_sessions_window: int = DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    ) -> FactTable:
        """Every register fact at the end of the current day, as known then."""
        return facts_from_counts(
            self.counts,
            self.day_index,
            min_possible_sessions_ytd=min_possible_sessions_ytd,
            min_possible_sessions_window=min_possible_sessions_window,
            windows=self._windows,
        )

    def _apply(self, lo: int, hi: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Write rows ``lo..hi-1``; return the (pupil, session) cells whose code changed."""
        pupils, sessions, codes = self._pupil[lo:hi], self._session[lo:hi], self._code[lo:hi]
        changed = self.grid.codes[pupils, sessions] != codes
        self.grid.codes[pupils, sessions] = codes
        return pupils[changed], sessions[changed]
