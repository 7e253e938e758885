"""A school's weeks, this school year against last: attendance, persistent absence and open
cases by stage at the end of each school week.

Attendance and persistent absence come from the register as known now (the page's cached
``SchoolAsOf``), for every pupil at once with numpy: one cumulative sum over the sessions gives
each pupil's year to date at every week's end. Cases by stage come from the stage moves of the
school's case histories (``PageReads.stage_moves``), with the moves an undo withdrew left out.
A year the calendar does not hold, or whose registers hold no marks, is "no data", never zeros.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.core.codes import CATEGORY_OF_ID, Category
from escalation_flow.core.register import Enrolment, RegisterGrid
from escalation_flow.ports import StageMove


@dataclass(frozen=True)
class YearWeeks:
    """One academic year's school weeks up to a day: what each week's end knew."""

    year: str  # "2025-26"
    weeks: int  # school weeks counted (up to the as-of day in the current year)
    attendance_pct: tuple[float, ...] = ()  # that week's sessions, every pupil
    persistent_pct: tuple[float, ...] = ()  # share of pupils at 90% or less, year to date
    #: open cases per stage at each week's end (stage number -> counts)
    stages: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def has_marks(self) -> bool:
        return any(not math.isnan(v) for v in self.attendance_pct)


@dataclass(frozen=True)
class Trends:
    this_year: YearWeeks
    last_year: YearWeeks | None  # None: the calendar holds no year before this one


def trends(
    grid: RegisterGrid | None,
    calendar: SchoolCalendar,
    as_of: int,
    moves: Sequence[StageMove],
    min_sessions: int,
    pupils: Collection[str] | None = None,
) -> Trends:
    """This year up to school day ``as_of``, and the whole of last year where the calendar
    holds it; of ``pupils`` only (a class teacher's year groups; None: every pupil)."""
    if pupils is not None:
        wanted = set(pupils)
        moves = [m for m in moves if m.pupil in wanted]
        if grid is not None:
            rows = [i for i, p in enumerate(grid.pupils) if p in wanted]
            grid = RegisterGrid(
                grid.school,
                tuple(grid.pupils[i] for i in rows),
                grid.codes[rows],
                _enrolment_rows(grid, rows),
            )
    year = calendar.year_of(as_of)
    position = calendar.year_periods.index(year)
    this = _year(grid, calendar, year, as_of, moves, min_sessions)
    if position == 0:
        return Trends(this, None)
    last = calendar.year_periods[position - 1]
    return Trends(this, _year(grid, calendar, last, last.last, moves, min_sessions))


def _enrolment_rows(grid: RegisterGrid, rows: list[int]) -> Enrolment:
    e = grid.enrolment
    return dataclasses.replace(
        e,
        first_session=e.first_session[rows],
        last_session=e.last_session[rows],
        school_age_from=e.school_age_from[rows],
        school_age_until=e.school_age_until[rows],
    )


def _week_ends(calendar: SchoolCalendar, year: Period, until: int) -> list[int]:
    """The last school day (index) of each school week of ``year`` up to ``until``."""
    first = int(calendar.week_of_day[year.first])
    last = int(calendar.week_of_day[until])
    return [min(int(calendar.week_last_day[w]), until) for w in range(first, last + 1)]


def _year(
    grid: RegisterGrid | None,
    calendar: SchoolCalendar,
    year: Period,
    until: int,
    moves: Sequence[StageMove],
    min_sessions: int,
) -> YearWeeks:
    ends = _week_ends(calendar, year, until)
    stages = _stages(moves, calendar, ends)
    start = calendar.school_days[year.first].year
    label = f"{start}-{(start + 1) % 100:02d}"  # "2025-26", as schools name their years
    if grid is None or grid.n_pupils == 0:
        nan = tuple(math.nan for _ in ends)
        return YearWeeks(label, len(ends), nan, nan, stages)
    attended, possible = _sessions(grid, year, until)
    # running totals per pupil, read at each week's end (session index 2 * day + 1)
    at_end = [2 * (e - year.first) + 1 for e in ends]
    run_attended = np.cumsum(attended, axis=1, dtype=np.int32)[:, at_end]
    run_possible = np.cumsum(possible, axis=1, dtype=np.int32)[:, at_end]
    known = run_possible >= max(min_sessions, 1)
    persistent = known & (10 * run_attended <= 9 * run_possible)
    n_known = known.sum(axis=0)
    persistent_pct = np.where(n_known > 0, 100.0 * persistent.sum(axis=0) / np.maximum(n_known, 1), np.nan)
    week_attended = np.diff(run_attended.sum(axis=0), prepend=0)
    week_possible = np.diff(run_possible.sum(axis=0), prepend=0)
    attendance = np.where(
        week_possible > 0, 100.0 * week_attended / np.maximum(week_possible, 1), np.nan
    )
    return YearWeeks(
        label,
        len(ends),
        tuple(float(v) for v in attendance),
        tuple(float(v) for v in persistent_pct),
        stages,
    )


def _sessions(
    grid: RegisterGrid, year: Period, until: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per pupil and session of ``year`` up to ``until``: attended, and possible (on roll and
    marked present, approved activity or absent)."""
    window = slice(2 * year.first, 2 * until + 2)
    codes = grid.codes[:, window]
    category = CATEGORY_OF_ID[codes.astype(np.intp)]
    sessions = np.arange(2 * year.first, 2 * until + 2)
    first = grid.enrolment.first_session[:, None]
    last = grid.enrolment.last_session[:, None]
    on_roll = (sessions[None, :] >= first) & (sessions[None, :] <= last)
    attended = on_roll & (
        (category == Category.PRESENT) | (category == Category.APPROVED_ACTIVITY)
    )
    absent = on_roll & ((category == Category.AUTHORISED) | (category == Category.UNAUTHORISED))
    return attended, attended | absent


def _stages(
    moves: Sequence[StageMove], calendar: SchoolCalendar, ends: list[int]
) -> dict[int, tuple[int, ...]]:
    """Open cases per stage at each week's end, from the cases' stage moves in ``seq`` order;
    moves an undo withdrew do not count (``action_undone`` names how many records before it)."""
    if not ends:
        return {}
    by_case: dict[int, list[StageMove]] = {}
    for m in moves:
        by_case.setdefault(m.case_id, []).append(m)
    end_dates = [calendar.school_days[e] for e in ends]
    counts: dict[int, list[int]] = {}
    for case_moves in by_case.values():
        timeline = _kept(sorted(case_moves, key=lambda m: m.seq))
        stage_at = 0
        i = 0
        for w, end in enumerate(end_dates):
            while i < len(timeline) and timeline[i].on <= end:
                stage_at = timeline[i].stage
                i += 1
            if stage_at > 0:
                counts.setdefault(stage_at, [0] * len(ends))[w] += 1
    return {stage: tuple(c) for stage, c in sorted(counts.items())}


def _kept(moves: list[StageMove]) -> list[StageMove]:
    """The stage moves an undo did not withdraw, each carrying the stage it left the case in
    (an undo puts back the stage before the moves it withdrew)."""
    out: list[StageMove] = []
    for m in moves:
        if m.undoes:
            withdrawn = range(m.seq - m.undoes, m.seq)
            out = [k for k in out if k.seq not in withdrawn]
            continue
        out.append(m)
    return out
