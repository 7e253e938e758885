"""Register facts (``fact_names.REGISTER_FACTS``) for every pupil of a school at once.

Facts are "at the end of the as-of school day": both of its sessions count. Every window ends
with the as-of day and starts at a school day found from the calendar, so each fact is a
difference of two columns of ``CumulativeCounts``: O(pupils) per day once the counts are built.

Windows, exactly:

- year to date: from the first school day of the academic year holding the as-of day; sessions
  before admission (or after leaving) are not possible, so they drop out on their own;
- this term, this half term: from the first school day of the term or half term holding it;
- the last N school weeks: the N school weeks ending with the as-of day's week, across breaks,
  terms and academic years (as far back as the calendar reaches; pass consecutive years);
- unresolved ``N``: every session of the calendar through the as-of day still marked ``N``.

Percentages are NaN (unknown) until their denominator reaches a minimum of possible sessions:
``min_possible_sessions_ytd`` for the year-to-date figures (the flow's choice: no default) and
``min_possible_sessions_window`` (default 10) for terms, half terms and school-week windows. The
persistent and severe flags follow the year-to-date percentage, so they are NaN when it is.
Absence shares by weekday are NaN when there is no absence this year.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from itertools import pairwise
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.packed_counts import (
    Key,
    WindowCounts,
    Words,
    as_float,
    attendance_percent,
)
from escalation_flow.core.projection import year_end_projection
from escalation_flow.core.register import RegisterGrid
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.errors import CalendarError, NotFoundError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]

DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW = 10
_WEEK_WINDOWS = (2, 4, 6, 8, 10)


@dataclass(frozen=True)
class DayWindows:
    """For each school day, the first school day of each window that ends with it."""

    year: IntArray
    term: IntArray
    half_term: IntArray
    weeks: dict[int, IntArray]
    #: the first and last school day of the previous term (-1: the calendars hold none)
    previous_term: tuple[IntArray, IntArray]

    @classmethod
    def of(cls, calendar: SchoolCalendar) -> DayWindows:
        weeks = {
            n: calendar.week_first_day[np.maximum(0, calendar.week_of_day - n + 1)].astype(np.int64)
            for n in _WEEK_WINDOWS
        }
        return cls(
            year=_first_days(calendar.year_periods, calendar.n_days),
            term=_first_days(calendar.terms_periods, calendar.n_days),
            half_term=_first_days(calendar.half_terms, calendar.n_days),
            weeks=weeks,
            previous_term=_previous_terms(calendar),
        )


#: A term more than this many calendar days before the next is not its previous term: the
#: calendars loaded skip a year between them.
_LONGEST_BREAK_DAYS = 120


def _previous_terms(calendar: SchoolCalendar) -> tuple[IntArray, IntArray]:
    first = np.full(calendar.n_days, -1, dtype=np.int64)
    last = np.full(calendar.n_days, -1, dtype=np.int64)
    terms, days = calendar.terms_periods, calendar.school_days
    for before, term in pairwise(terms):
        if (days[term.first] - days[before.last]).days <= _LONGEST_BREAK_DAYS:
            first[term.first : term.last + 1] = before.first
            last[term.first : term.last + 1] = before.last
    return first, last


def _first_days(periods: Sequence[Period], n_days: int) -> IntArray:
    out = np.zeros(n_days, dtype=np.int64)
    for p in periods:
        out[p.first : p.last + 1] = p.first
    return out


@dataclass(frozen=True)
class FactTable:
    """Every register fact for every pupil of one school, as of one school day."""

    school: str
    pupils: tuple[str, ...]
    day_index: int
    as_of: date
    values: dict[str, FloatArray]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.pupils)}

    def index(self, pupil: str) -> int:
        try:
            return self._index[pupil]
        except KeyError:
            raise NotFoundError(
                f"pupil {pupil!r} is not on the register of {self.school!r}"
            ) from None

    def row(self, pupil: str) -> dict[str, float]:
        """One pupil's facts, by name (NaN: unknown)."""
        i = self.index(pupil)
        return {name: float(values[i]) for name, values in self.values.items()}


def facts_as_of(
    grid: RegisterGrid,
    calendar: SchoolCalendar,
    day_index: int,
    *,
    min_possible_sessions_ytd: int,
    min_possible_sessions_window: int = DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
) -> FactTable:
    """Facts at the end of school day ``day_index``, for every pupil of the grid."""
    _check_day(calendar, day_index)
    counts = CumulativeCounts(grid, calendar, through_day=day_index)
    return facts_from_counts(
        counts,
        day_index,
        min_possible_sessions_ytd=min_possible_sessions_ytd,
        min_possible_sessions_window=min_possible_sessions_window,
    )


def facts_for_all_days(
    grid: RegisterGrid,
    calendar: SchoolCalendar,
    *,
    min_possible_sessions_ytd: int,
    min_possible_sessions_window: int = DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    first_day: int = 0,
    last_day: int | None = None,
) -> Iterator[FactTable]:
    """Facts for each school day ``first_day..last_day`` of one fixed grid (counts built once)."""
    last = calendar.n_days - 1 if last_day is None else last_day
    _check_day(calendar, first_day)
    _check_day(calendar, last)
    counts = CumulativeCounts(grid, calendar, through_day=last)
    windows = DayWindows.of(calendar)
    for day in range(first_day, last + 1):
        yield facts_from_counts(
            counts,
            day,
            min_possible_sessions_ytd=min_possible_sessions_ytd,
            min_possible_sessions_window=min_possible_sessions_window,
            windows=windows,
        )


def facts_from_counts(
    counts: CumulativeCounts,
    day_index: int,
    *,
    min_possible_sessions_ytd: int,
    min_possible_sessions_window: int = DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    windows: DayWindows | None = None,
) -> FactTable:
    """Facts at the end of ``day_index`` from counts built at least through that day."""
    calendar = counts.calendar
    _check_day(calendar, day_index)
    if day_index > counts.through_day:
        raise ValueError(
            f"school day {day_index} is not counted yet (through {counts.through_day})"
        )
    w = windows or DayWindows.of(calendar)
    window_pct = min_possible_sessions_window
    cols = _Columns(counts)
    values: dict[str, FloatArray] = {}
    values.update(_year_facts(cols, w, day_index, min_possible_sessions_ytd))
    values.update(_term_facts(cols, w, day_index, window_pct))
    values.update(_week_facts(cols, w, day_index, window_pct))
    values.update(_day_facts(cols, day_index))
    values.update(_episode_facts(counts, w, day_index))
    values.update(_previous_term_facts(cols, w, day_index, window_pct))
    values.update(year_end_projection(values, calendar.year_of(day_index).last - day_index))
    as_of = calendar.school_days[day_index]
    enrolment = counts.grid.enrolment
    ordinal = as_of.toordinal()
    values["compulsory_school_age"] = _flag(
        (enrolment.school_age_from <= ordinal) & (ordinal <= enrolment.school_age_until)
    )
    values.update(_legal_facts(cols, w, day_index, values["compulsory_school_age"]))
    return FactTable(
        school=counts.grid.school,
        pupils=counts.grid.pupils,
        day_index=day_index,
        as_of=as_of,
        values={name: values[name] for name in REGISTER_FACTS},
    )


class KnownFacts:
    """The facts of one reading of a register (its running counts), asked day by day as a flow
    version counts them: what the service, the pages and replay read "as known" at a moment.

    The minimum of possible sessions before a year-to-date percentage counts is the flow
    version's (a case on an earlier version is decided on its own version's figures), so it is
    asked for each time, never taken from the school's current flow. Each (day, minimum) is
    computed once.
    """

    def __init__(self, counts: CumulativeCounts, windows: DayWindows | None = None) -> None:
        self.counts = counts
        self._windows = windows
        self._facts: dict[tuple[int, int], FactTable] = {}

    def at(self, day: int, min_possible_sessions: int) -> FactTable:
        """Facts at the end of school day ``day`` (before the first school day: the first's)."""
        day = max(day, 0)
        key = (day, min_possible_sessions)
        facts = self._facts.get(key)
        if facts is None:
            facts = self._facts[key] = facts_from_counts(
                self.counts,
                day,
                min_possible_sessions_ytd=min_possible_sessions,
                windows=self._windows,
            )
        return facts


class _Columns:
    """Windows of one day's facts: they share their ends, so each column is read once.

    (Reading a column of the running counts touches every pupil's row: the slow part of a day.)
    """

    def __init__(self, counts: CumulativeCounts) -> None:
        self.counts = counts
        self._read: dict[int, Words] = {}
        self._windows: dict[tuple[int, int], WindowCounts] = {}

    def between(self, first_session: int, last_session: int) -> WindowCounts:
        """Counts over sessions ``first..last`` (``first <= last + 1``), as ``counts_between``;
        one window asked twice is counted once."""
        key = (first_session, last_session)
        window = self._windows.get(key)
        if window is None:
            end = self._running(last_session + 1)
            window = WindowCounts(self.counts.packing, end, self._running(first_session))
            self._windows[key] = window
        return window

    def _running(self, session: int) -> Words:
        if session not in self._read:
            # (a view of the table at the start of a day: each word's row is contiguous)
            self._read[session] = self.counts.running(session)
        return self._read[session]


def _year_facts(
    cols: _Columns, w: DayWindows, day: int, min_possible: int
) -> dict[str, FloatArray]:
    ytd = cols.between(2 * int(w.year[day]), 2 * day + 1)
    attended, possible, absence = ytd.attended, ytd.possible, ytd.absence
    pct = attendance_percent(attended, possible, min_possible)
    known = ~np.isnan(pct)
    monday, friday = ytd.count(Key.ABSENT_MONDAY), ytd.count(Key.ABSENT_FRIDAY)
    return {
        "possible_sessions": _f(possible),
        "attended_sessions": _f(attended),
        "absence_sessions": _f(absence),
        "authorised_absence_sessions": _f(ytd.authorised),
        "unauthorised_absence_sessions": _f(ytd.unauthorised),
        "unmarked_sessions": _f(ytd.unmarked),
        "attendance_pct": pct,
        # Integer comparisons: "90% or less" must hold exactly at 90%, whatever the rounding.
        "persistent_absence": _flag(10 * attended <= 9 * possible, known),
        "severe_absence": _flag(2 * attended <= possible, known),
        "holiday_sessions_this_year": _f(ytd.count(Key.HOLIDAY)),
        "monday_absence_share": _share(monday, absence),
        "friday_absence_share": _share(friday, absence),
        "monday_friday_absence_share": _share(monday + friday, absence),
    }


def _term_facts(
    cols: _Columns, w: DayWindows, day: int, min_possible: int
) -> dict[str, FloatArray]:
    end = 2 * day + 1
    term = cols.between(2 * int(w.term[day]), end)
    half = cols.between(2 * int(w.half_term[day]), end)
    return {
        "attendance_pct_this_term": term.attendance_pct(min_possible_sessions=min_possible),
        "attendance_pct_this_half_term": half.attendance_pct(min_possible_sessions=min_possible),
        "late_sessions_this_half_term": _f(half.late),
        "late_before_close_sessions_this_half_term": _f(half.count(Key.LATE_BEFORE_CLOSE)),
        "late_after_close_sessions_this_half_term": _f(half.count(Key.LATE_AFTER_CLOSE)),
        "unauthorised_sessions_this_half_term": _f(half.unauthorised),
        "unauthorised_sessions_this_term": _f(term.unauthorised),
        "illness_sessions_this_term": _f(term.count(Key.ILLNESS)),
        "medical_sessions_this_term": _f(term.count(Key.MEDICAL)),
    }


def _week_facts(
    cols: _Columns, w: DayWindows, day: int, min_possible: int
) -> dict[str, FloatArray]:
    end = 2 * day + 1
    last: dict[int, WindowCounts] = {
        n: cols.between(2 * int(w.weeks[n][day]), end) for n in _WEEK_WINDOWS
    }
    previous_4 = cols.between(2 * int(w.weeks[8][day]), 2 * int(w.weeks[4][day]) - 1)
    pct = {n: last[n].attendance_pct(min_possible_sessions=min_possible) for n in (2, 4, 6, 10)}
    pct_previous_4 = previous_4.attendance_pct(min_possible_sessions=min_possible)
    return {
        "attendance_pct_last_2_school_weeks": pct[2],
        "attendance_pct_last_4_school_weeks": pct[4],
        "attendance_pct_last_6_school_weeks": pct[6],
        "attendance_pct_last_10_school_weeks": pct[10],
        "attendance_pct_previous_4_school_weeks": pct_previous_4,
        "attendance_trend": pct[4] - pct_previous_4,
        "unauthorised_sessions_last_6_school_weeks": _f(last[6].unauthorised),
        "unauthorised_sessions_last_10_school_weeks": _f(last[10].unauthorised),
        "illness_sessions_last_10_school_weeks": _f(last[10].count(Key.ILLNESS)),
        "late_sessions_last_4_school_weeks": _f(last[4].late),
        "late_sessions_previous_4_school_weeks": _f(previous_4.late),
    }


#: The national penalty-notice threshold: sessions of unauthorised absence in 10 school weeks.
PENALTY_NOTICE_THRESHOLD_SESSIONS = 10


def _legal_facts(
    cols: _Columns, w: DayWindows, day: int, of_age_today: FloatArray
) -> dict[str, FloatArray]:
    """The unauthorised sessions that can found a legal step: those of the last 10 school weeks
    on days the pupil was of compulsory school age (a Reception child's autumn absence cannot
    found a penalty notice in January, when the child has just become of that age)."""
    counts = cols.counts
    start, stop = 2 * int(w.weeks[10][day]), 2 * day + 2
    # Of compulsory school age throughout the 10 weeks: the 10 weeks' count, as read for the
    # weeks' own facts. Only the pupils whose age begins or ends within them are counted apart.
    of_age = cols.between(start, stop - 1).unauthorised.copy()
    first_of_age, after_of_age = counts.sessions_of_compulsory_age()
    cut = np.flatnonzero((first_of_age > start) | (after_of_age < stop))
    if cut.size:
        ends = np.minimum(stop, after_of_age[cut])
        starts = np.minimum(np.maximum(start, first_of_age[cut]), ends)  # never of age: empty
        key = Key.UNAUTHORISED
        of_age[cut] = counts.running_count_at(key, cut, ends) - counts.running_count_at(
            key, cut, starts
        )
    return {
        "unauthorised_sessions_of_compulsory_age_last_10_school_weeks": _f(of_age),
        "penalty_notice_threshold_met": _flag(
            (of_age >= PENALTY_NOTICE_THRESHOLD_SESSIONS) & (of_age_today == 1.0)
        ),
    }


def _day_facts(cols: _Columns, day: int) -> dict[str, FloatArray]:
    end = 2 * day + 1
    counts = cols.counts
    today = cols.between(2 * day, end)
    first_n = counts.first_session_with(Key.N, end)
    oldest = np.where(first_n >= 0, day - first_n // 2, 0)
    return {
        "absent_today": _flag(today.absence > 0),
        "unexplained_absence_today": _flag(today.count(Key.N) > 0),
        "consecutive_unauthorised_school_days": _f(counts.unauthorised_days_ending(day)),
        "unresolved_n_sessions": _f(cols.between(0, end).count(Key.N)),
        "oldest_unresolved_n_school_days": _f(oldest),
    }


def _episode_facts(counts: CumulativeCounts, w: DayWindows, day: int) -> dict[str, FloatArray]:
    runs = counts.episodes
    return {
        "current_absence_episode_school_days": _f(runs.current_run(day)),
        "absence_episodes_this_term": _f(runs.episodes_between(int(w.term[day]), day)),
        "school_days_since_first_unexplained_absence_of_episode": (
            runs.days_since_first_unexplained(day)
        ),
        "consecutive_unexplained_school_days": _f(runs.unexplained_days(day)),
    }


def _previous_term_facts(
    cols: _Columns, w: DayWindows, day: int, min_possible: int
) -> dict[str, FloatArray]:
    first, last = int(w.previous_term[0][day]), int(w.previous_term[1][day])
    n = len(cols.counts.grid.pupils)
    if first < 0:
        return {
            "attendance_pct_previous_term": np.full(n, np.nan),
            "unauthorised_sessions_previous_term": np.full(n, np.nan),
        }
    term = cols.between(2 * first, 2 * last + 1)
    return {
        "attendance_pct_previous_term": term.attendance_pct(min_possible_sessions=min_possible),
        "unauthorised_sessions_previous_term": _f(term.unauthorised),
    }


def _f(counts: IntArray) -> FloatArray:
    """Counts (never negative) as the facts' floats."""
    return as_float(counts)


def _flag(
    condition: npt.NDArray[np.bool_], known: npt.NDArray[np.bool_] | None = None
) -> FloatArray:
    out = condition.astype(np.float64)
    if known is not None:
        out[~known] = np.nan
    return out


def _share(part: IntArray, whole: IntArray) -> FloatArray:
    """``part / whole`` of counts; NaN where ``whole`` is 0 (divided by NaN there, as in
    ``attendance_percent``)."""
    denominator = as_float(whole)
    denominator[whole == 0] = np.nan
    out = as_float(part)
    out /= denominator
    return out


def _check_day(calendar: SchoolCalendar, day_index: int) -> None:
    if not 0 <= day_index < calendar.n_days:
        raise CalendarError(
            f"school day {day_index} is outside calendar {calendar.name} (0..{calendar.n_days - 1})"
        )
