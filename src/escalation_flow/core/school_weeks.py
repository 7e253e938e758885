"""A school's attendance and persistent absence at the end of each school week of a year, from
its register, as the school dashboard's trends draw them: kept by the evening with the page's
figures (``service.school_figures``), so that a school page's first load reads a row instead of
the school's marks.

``web.trends`` draws the same figures (``year_figures``) beside the cases by stage; one
cumulative sum over every pupil's sessions, read at each week's end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.core.codes import CATEGORY_OF_ID, Category
from escalation_flow.core.register import RegisterGrid


@dataclass(frozen=True)
class WeekFigures:
    """One academic year's school weeks up to a day: each week's attendance (every pupil's
    sessions that week) and the share of pupils persistently absent year to date (NaN: none)."""

    year: str  # "2025-26"
    attendance_pct: tuple[float, ...]
    persistent_pct: tuple[float, ...]


def school_weeks(
    grid: RegisterGrid, calendar: SchoolCalendar, as_of: int, min_sessions: int
) -> tuple[WeekFigures, WeekFigures | None]:
    """This year up to school day ``as_of``; the whole of last year where the calendar holds it
    (None: it does not)."""
    year = calendar.year_of(as_of)
    position = calendar.year_periods.index(year)
    this = year_figures(grid, calendar, year, as_of, min_sessions)
    if position == 0:
        return this, None
    last = calendar.year_periods[position - 1]
    return this, year_figures(grid, calendar, last, last.last, min_sessions)


def week_ends(calendar: SchoolCalendar, year: Period, until: int) -> list[int]:
    """The last school day (index) of each school week of ``year`` up to ``until``."""
    first = int(calendar.week_of_day[year.first])
    last = int(calendar.week_of_day[until])
    return [min(int(calendar.week_last_day[w]), until) for w in range(first, last + 1)]


def year_figures(
    grid: RegisterGrid | None,
    calendar: SchoolCalendar,
    year: Period,
    until: int,
    min_sessions: int,
) -> WeekFigures:
    """``year``'s weeks up to school day ``until`` (NaN throughout: no grid, or no pupils)."""
    ends = week_ends(calendar, year, until)
    start = calendar.school_days[year.first].year
    label = f"{start}-{(start + 1) % 100:02d}"  # "2025-26", as schools name their years
    if grid is None or grid.n_pupils == 0:
        nan = tuple(float("nan") for _ in ends)
        return WeekFigures(label, nan, nan)
    attended, possible = _sessions(grid, year, until)
    # running totals per pupil, read at each week's end (session index 2 * day + 1)
    at_end = [2 * (e - year.first) + 1 for e in ends]
    run_attended = np.cumsum(attended, axis=1, dtype=np.int32)[:, at_end]
    run_possible = np.cumsum(possible, axis=1, dtype=np.int32)[:, at_end]
    known = run_possible >= max(min_sessions, 1)
    persistent = known & (10 * run_attended <= 9 * run_possible)
    n_known = known.sum(axis=0)
    persistent_pct = np.where(
        n_known > 0, 100.0 * persistent.sum(axis=0) / np.maximum(n_known, 1), np.nan
    )
    week_attended = np.diff(run_attended.sum(axis=0), prepend=0)
    week_possible = np.diff(run_possible.sum(axis=0), prepend=0)
    attendance = np.where(
        week_possible > 0, 100.0 * week_attended / np.maximum(week_possible, 1), np.nan
    )
    return WeekFigures(
        label, tuple(float(v) for v in attendance), tuple(float(v) for v in persistent_pct)
    )


def _sessions(
    grid: RegisterGrid, year: Period, until: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per pupil and session of ``year`` up to ``until``: attended, and possible (on roll and
    marked present, approved activity or absent)."""
    window = slice(2 * year.first, 2 * until + 2)
    category = CATEGORY_OF_ID[grid.codes[:, window].astype(np.intp)]
    sessions = np.arange(2 * year.first, 2 * until + 2)
    first = grid.enrolment.first_session[:, None]
    last = grid.enrolment.last_session[:, None]
    on_roll = (sessions[None, :] >= first) & (sessions[None, :] <= last)
    attended = on_roll & ((category == Category.PRESENT) | (category == Category.APPROVED_ACTIVITY))
    absent = on_roll & ((category == Category.AUTHORISED) | (category == Category.UNAUTHORISED))
    return attended, attended | absent
