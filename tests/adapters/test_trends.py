"""The school dashboard's trends (``web.trends``) and their charts' axes (``web.chart``):
weekly attendance and persistent absence from a register, open cases by stage from stage moves
with an undo's moves left out, and "no data" for a year the calendar or the registers lack."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE
from escalation_flow.core.register import RegisterGrid, enrolment_of
from escalation_flow.ports import StageMove
from escalation_flow.web.chart import Series, axis_range, trend_svg
from escalation_flow.web.trends import trends

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_years() -> SchoolCalendar:
    folder = ROOT / "config" / "calendars"
    return load_calendar([folder / "england-2025-26.yaml", folder / "england-2026-27.yaml"])


def grid_of(calendar: SchoolCalendar, rows: list[np.ndarray]) -> RegisterGrid:
    names = tuple(f"P{i}" for i in range(len(rows)))
    return RegisterGrid("oaks", names, np.array(rows, dtype=np.int8), enrolment_of(names, calendar, None))


def test_weekly_attendance_and_persistent_absence_this_year_against_last(
    two_years: SchoolCalendar,
) -> None:
    """P0 attends always; P1 misses every morning of last year and of this year's second week."""
    present, absent = ID_OF_CODE["/"], ID_OF_CODE["N"]
    p0 = np.full(two_years.n_sessions, present, dtype=np.int8)
    p1 = p0.copy()
    last, this = two_years.year_periods
    p1[2 * last.first : 2 * last.last + 2 : 2] = absent
    week2 = slice(2 * (int(two_years.week_last_day[two_years.week_of_day[this.first]]) + 1),
                  2 * int(two_years.week_last_day[two_years.week_of_day[this.first] + 1]) + 2, 2)  # fmt: skip
    p1[week2] = absent
    as_of = int(two_years.week_last_day[two_years.week_of_day[this.first] + 1])
    found = trends(grid_of(two_years, [p0, p1]), two_years, as_of, [], 4)
    assert found.this_year.attendance_pct == (100.0, 75.0)
    assert found.last_year is not None and found.last_year.has_marks
    assert found.last_year.attendance_pct[0] == 75.0
    assert found.last_year.persistent_pct[-1] == 50.0  # P1 at 50% all year
    assert found.this_year.persistent_pct == (0.0, 50.0)  # P1 at 75% after the second week


def test_a_year_the_calendar_does_not_hold_is_no_data(two_years: SchoolCalendar) -> None:
    one_year = load_calendar(ROOT / "config" / "calendars" / "england-2025-26.yaml")
    rows = [np.full(one_year.n_sessions, ID_OF_CODE["/"], dtype=np.int8)]
    assert trends(grid_of(one_year, rows), one_year, 10, [], 4).last_year is None
    unmarked = [np.zeros(two_years.n_sessions, dtype=np.int8)]
    this = two_years.year_periods[1]
    found = trends(grid_of(two_years, unmarked), two_years, this.first + 9, [], 4)
    assert found.last_year is not None and not found.last_year.has_marks
    assert all(math.isnan(v) for v in found.this_year.attendance_pct)


def test_open_cases_by_stage_leave_out_what_an_undo_withdrew(two_years: SchoolCalendar) -> None:
    this = two_years.year_periods[1]
    first_monday = two_years.school_days[this.first]
    second_week = int(two_years.week_of_day[this.first]) + 1
    day = two_years.school_days[int(two_years.week_first_day[second_week])]
    end = int(two_years.week_last_day[second_week])
    moves = [
        StageMove(1, 2, first_monday, 2),
        StageMove(2, 2, first_monday, 2),
        StageMove(2, 5, day, 3),  # case 2 moved to stage 3 by an action ...
        StageMove(2, 7, day, 0, undoes=3),  # ... which was undone (records 4, 5, 6)
        StageMove(1, 9, day, 0),  # case 1 closed
    ]
    found = trends(None, two_years, end, moves, 4)
    assert found.this_year.stages == {2: (2, 1)}


def test_a_percentage_axis_starts_near_the_data_and_a_count_axis_at_zero() -> None:
    assert axis_range([94.0, 96.5, 95.2], from_zero=False)[0] >= 90.0
    assert axis_range([3.0, 7.0], from_zero=True)[0] == 0.0
    bottom, top, _ = axis_range([math.nan], from_zero=False)
    assert (bottom, top) == (0.0, 100.0)


def test_a_trend_chart_leaves_a_gap_where_there_is_no_data() -> None:
    svg = trend_svg([Series("this year", (95.0, math.nan, 96.0, 97.0), "#000")], "Attendance")
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert 'aria-label="Attendance"' in svg


def test_a_class_teacher_s_trends_count_only_their_pupils(two_years: SchoolCalendar) -> None:
    """P0 attends; P1 (not in the teacher's classes) misses everything and has a case."""
    this = two_years.year_periods[1]
    p0 = np.full(two_years.n_sessions, ID_OF_CODE["/"], dtype=np.int8)
    p1 = np.full(two_years.n_sessions, ID_OF_CODE["N"], dtype=np.int8)
    first = two_years.school_days[this.first]
    moves = [StageMove(7, 1, first, 2, pupil="P1")]
    end = int(two_years.week_last_day[two_years.week_of_day[this.first]])
    everyone = trends(grid_of(two_years, [p0, p1]), two_years, end, moves, 1)
    mine = trends(grid_of(two_years, [p0, p1]), two_years, end, moves, 1, pupils={"P0"})
    assert everyone.this_year.attendance_pct == (50.0,) and everyone.this_year.stages == {2: (1,)}
    assert mine.this_year.attendance_pct == (100.0,) and mine.this_year.stages == {}
