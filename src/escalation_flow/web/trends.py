"""A school's weeks, this school year against last: attendance, persistent absence and open
cases by stage at the end of each school week.

Attendance and persistent absence come from the register as known now (the page's cached
``SchoolAsOf``), counted by ``core.school_weeks`` (the same figures the evening keeps for the
page's first load). Cases by stage come from the stage moves of the
school's case histories (``PageReads.stage_moves``), with the moves an undo withdrew left out.
A year the calendar does not hold, or whose registers hold no marks, is "no data", never zeros.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.core.register import Enrolment, RegisterGrid
from escalation_flow.core.school_weeks import week_ends, year_figures
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


def _year(
    grid: RegisterGrid | None,
    calendar: SchoolCalendar,
    year: Period,
    until: int,
    moves: Sequence[StageMove],
    min_sessions: int,
) -> YearWeeks:
    figures = year_figures(grid, calendar, year, until, min_sessions)
    stages = _stages(moves, calendar, week_ends(calendar, year, until))
    weeks = len(figures.attendance_pct)
    return YearWeeks(figures.year, weeks, figures.attendance_pct, figures.persistent_pct, stages)


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
