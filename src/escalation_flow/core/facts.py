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

import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from itertools import pairwise
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.facts_by_window import PENALTY_NOTICE_THRESHOLD_SESSIONS, facts_by_window
from escalation_flow.core.packed_counts import (
    Key,
    as_float,
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
        """The windows of ``calendar``'s days: worked out once per calendar object, and kept
        while it lives (every register of a school, every evening, reads the same)."""
        kept = _KEPT_WINDOWS.get(id(calendar))
        if kept is not None and kept[0]() is calendar:
            return kept[1]
        windows = cls._of(calendar)
        key = id(calendar)
        gone = weakref.ref(calendar, lambda _: _KEPT_WINDOWS.pop(key, None))
        _KEPT_WINDOWS[key] = (gone, windows)
        return windows

    @classmethod
    def _of(cls, calendar: SchoolCalendar) -> DayWindows:
        weeks = {
            n: calendar.week_first_day[np.maximum(0, calendar.week_of_day - n + 1)].astype(np.int64)
            for n in _WEEK_WINDOWS
        }
        windows = cls(
            year=_first_days(calendar.year_periods, calendar.n_days),
            term=_first_days(calendar.terms_periods, calendar.n_days),
            half_term=_first_days(calendar.half_terms, calendar.n_days),
            weeks=weeks,
            previous_term=_previous_terms(calendar),
        )
        for array in (windows.year, windows.term, windows.half_term, *weeks.values()):
            array.flags.writeable = False
        for array in windows.previous_term:
            array.flags.writeable = False
        return windows

    @cached_property
    def field_bounds(self) -> tuple[IntArray, IntArray]:
        """``(days, fields)``: the window of each count a day's facts read (``_FIELDS``)."""
        return _field_bounds(self)


#: ``id(calendar)``: the calendar (weakly: its entry goes with it) and its windows.
_KEPT_WINDOWS: dict[int, tuple[weakref.ref[SchoolCalendar], DayWindows]] = {}


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
    # Counts for this day alone: its runs of absence are read off the day, not stepped to it.
    counts = CumulativeCounts(grid, calendar, through_day=day_index, runs_of_last_day_only=True)
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
    # Every day's counts gathered from the keys' own rows of two bytes (``key_rows``).
    rows = None if grid.n_pupils > BLOCK_PUPILS else counts.key_rows()
    keyed = None if rows is None else (rows, _FIELD_KEY_IDS * (counts.through_day + 2))
    for day in range(first_day, last + 1):
        yield _facts_of_day(
            counts, windows, day, min_possible_sessions_ytd, min_possible_sessions_window, keyed
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
    return _facts_of_day(
        counts, w, day_index, min_possible_sessions_ytd, min_possible_sessions_window, None
    )


def _facts_of_day(
    counts: CumulativeCounts,
    w: DayWindows,
    day_index: int,
    min_possible_ytd: int,
    min_possible_window: int,
    keyed: tuple[npt.NDArray[np.uint16], IntArray] | None,
) -> FactTable:
    """``facts_from_counts`` once its day is checked (``keyed``: see ``_block_facts``)."""
    if counts.grid.n_pupils > BLOCK_PUPILS:  # see ``core.facts_by_window``
        values = facts_by_window(
            counts,
            w,
            day_index,
            min_possible_sessions_ytd=min_possible_ytd,
            min_possible_sessions_window=min_possible_window,
        )
    else:
        values = _block_facts(
            counts, w, day_index, min_possible_ytd, min_possible_window, keyed=keyed
        )
    return FactTable(
        school=counts.grid.school,
        pupils=counts.grid.pupils,
        day_index=day_index,
        as_of=counts.calendar.school_days[day_index],
        values=values,
    )


#: Above this many pupils a day's facts are counted window by window (``core.facts_by_window``).
#: CPU time a day, at once against by window: 0.33 / 0.59 ms on 1,000 pupils, 1.55 / 1.65 on
#: 4,000, 2.90 / 2.80 on 8,000, 7.8 / 4.6 on 20,000.
BLOCK_PUPILS = 5000


def _block_facts(
    counts: CumulativeCounts,
    w: DayWindows,
    day: int,
    min_possible_ytd: int,
    min_possible_window: int,
    keyed: tuple[npt.NDArray[np.uint16], IntArray] | None = None,
) -> dict[str, FloatArray]:
    """Every register fact at the end of ``day``, every window's counts read at once
    (``keyed``: from the counts' ``key_rows`` and each field's first row in them)."""
    values, ints = _day_facts(counts, w, day, min_possible_ytd, min_possible_window, keyed)
    values.update(_episode_facts(counts, w, day))
    values.update(year_end_projection(values, counts.calendar.year_of(day).last - day))
    of_age = counts.of_compulsory_age_on(day)
    values["compulsory_school_age"] = _flag(of_age)
    values.update(_legal_facts(counts, w, day, ints, of_age))
    return {name: values[name] for name in REGISTER_FACTS}


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


# -- one day's facts: every window's counts read at once ---------------------------------------

#: The windows a day's facts count over, as indices into ``DayWindows.bounds``.
_YTD, _TERM, _HALF, _W2, _W4, _W6, _W10, _PREV4, _PREV_TERM, _TODAY, _ALL = range(11)
_N_WINDOWS = 11
#: Windows with an attendance percentage: each of attended, authorised and unauthorised is read
#: as one block of rows in this order, so that possible sessions and percentages are worked out
#: for all of them at once.
_PCT_WINDOWS = (_YTD, _TERM, _HALF, _W2, _W4, _W6, _W10, _PREV4, _PREV_TERM)
_N_PCT = len(_PCT_WINDOWS)
_PCT = {window: i for i, window in enumerate(_PCT_WINDOWS)}
#: Late (``L``, then ``U``) in these windows, as two blocks: their sum is one addition.
_LATE_WINDOWS = (_HALF, _W4, _PREV4)
#: Every (window, key) count a day's facts read, key by key (a key's rows share their shift).
_FIELDS: tuple[tuple[int, Key], ...] = (
    *((w, Key.ATTENDED) for w in _PCT_WINDOWS),
    *((w, Key.AUTHORISED) for w in (*_PCT_WINDOWS, _TODAY)),
    *((w, Key.UNAUTHORISED) for w in (*_PCT_WINDOWS, _TODAY)),
    (_YTD, Key.UNMARKED),
    *((w, Key.LATE_BEFORE_CLOSE) for w in _LATE_WINDOWS),
    *((w, Key.LATE_AFTER_CLOSE) for w in _LATE_WINDOWS),
    (_TODAY, Key.N),
    (_ALL, Key.N),
    (_TERM, Key.ILLNESS),
    (_W10, Key.ILLNESS),
    (_TERM, Key.MEDICAL),
    (_YTD, Key.HOLIDAY),
    (_YTD, Key.ABSENT_MONDAY),
    (_YTD, Key.ABSENT_FRIDAY),
)
_ROW = {field: i for i, field in enumerate(_FIELDS)}
_FIELD_WINDOW = np.array([w for w, _ in _FIELDS], dtype=np.intp)
_FIELD_KEYS = tuple(k for _, k in _FIELDS)
_FIELD_KEY_IDS = np.array([int(k) for k in _FIELD_KEYS], dtype=np.int64)


def _block(key: Key, windows: Sequence[int]) -> slice:
    """The rows of ``key`` over ``windows``, which ``_FIELDS`` lists one after another."""
    first = _ROW[windows[0], key]
    if [_ROW[w, key] for w in windows] != list(range(first, first + len(windows))):
        raise AssertionError(f"{key.name}'s rows are not one block")
    return slice(first, first + len(windows))


_ATT = _block(Key.ATTENDED, _PCT_WINDOWS)
_AUTH = _block(Key.AUTHORISED, _PCT_WINDOWS)
_UNAUTH = _block(Key.UNAUTHORISED, _PCT_WINDOWS)
_L = _block(Key.LATE_BEFORE_CLOSE, _LATE_WINDOWS)
_U = _block(Key.LATE_AFTER_CLOSE, _LATE_WINDOWS)
_TODAY_ABSENT = _block(Key.AUTHORISED, (_TODAY,)).start, _block(Key.UNAUTHORISED, (_TODAY,)).start
_SHARES = _block(Key.ABSENT_MONDAY, (_YTD,)).start
assert _ROW[_YTD, Key.ABSENT_FRIDAY] == _SHARES + 1


def _field_bounds(w: DayWindows) -> tuple[IntArray, IntArray]:
    """``(days, fields)``: for each school day, the first day of each field's window and the
    day after its last (equal: empty), so that a day's are two rows read, not worked out."""
    n_days = len(w.year)
    days = np.arange(n_days)
    firsts = np.zeros((n_days, _N_WINDOWS), dtype=np.int64)
    afters = np.repeat(days[:, None] + 1, _N_WINDOWS, axis=1)
    firsts[:, _YTD], firsts[:, _TERM], firsts[:, _HALF] = w.year, w.term, w.half_term
    for window, n in ((_W2, 2), (_W4, 4), (_W6, 6), (_W10, 10)):
        firsts[:, window] = w.weeks[n]
    firsts[:, _PREV4], afters[:, _PREV4] = w.weeks[8], w.weeks[4]
    first_term, last_term = w.previous_term
    known = first_term >= 0  # else empty, and its facts unknown
    firsts[:, _PREV_TERM] = np.where(known, first_term, 0)
    afters[:, _PREV_TERM] = np.where(known, last_term + 1, 0)
    firsts[:, _TODAY] = days
    return firsts[:, _FIELD_WINDOW].copy(), afters[:, _FIELD_WINDOW].copy()


def _day_facts(
    counts: CumulativeCounts,
    w: DayWindows,
    day: int,
    min_possible_ytd: int,
    min_possible_window: int,
    keyed: tuple[npt.NDArray[np.uint16], IntArray] | None = None,
) -> tuple[dict[str, FloatArray], IntArray]:
    """The facts counted over windows of the register (all but runs, age and projection), and
    the counts they were read from (``_FIELDS``' rows)."""
    firsts, afters = w.field_bounds
    if keyed is None:
        rows = counts.packing.rows_of(_FIELD_KEYS)
        ints = counts.fields_over_days(rows, firsts[day], afters[day])
        got = as_float(ints)  # counts as floats, exactly: sums of them below are exact too
    else:
        table, base = keyed
        # (Running counts never fall: the two bytes' subtraction never wraps.)
        small = table.take(base + afters[day], axis=0)
        small -= table.take(base + firsts[day], axis=0)
        ints, got = small.astype(np.int64), small.astype(np.float64)
    attended, unauthorised = got[_ATT], got[_UNAUTH]
    absence = got[_AUTH] + unauthorised
    possible = attended + absence
    pct = _percentages(attended, possible, min_possible_ytd, min_possible_window)
    late = got[_L] + got[_U]
    # Unknown where the year's percentage is (it is finite wherever known): the flags' NaN.
    unknown = pct[0] * 0.0
    p = _PCT
    values = {
        "possible_sessions": possible[0],
        "attended_sessions": attended[0],
        "absence_sessions": absence[0],
        "authorised_absence_sessions": got[_AUTH.start],
        "unauthorised_absence_sessions": unauthorised[0],
        "unmarked_sessions": got[_ROW[_YTD, Key.UNMARKED]],
        "attendance_pct": pct[0],
        # "90% or less" must hold exactly at 90%: counts are exact in floats, so are these.
        "persistent_absence": np.add(10.0 * attended[0] <= 9.0 * possible[0], unknown),
        "severe_absence": np.add(2.0 * attended[0] <= possible[0], unknown),
        "holiday_sessions_this_year": got[_ROW[_YTD, Key.HOLIDAY]],
        **_shares(got[_SHARES : _SHARES + 2], absence[0]),
        "attendance_pct_this_term": pct[p[_TERM]],
        "attendance_pct_this_half_term": pct[p[_HALF]],
        "late_sessions_this_half_term": late[0],
        "late_before_close_sessions_this_half_term": got[_L.start],
        "late_after_close_sessions_this_half_term": got[_U.start],
        "unauthorised_sessions_this_half_term": unauthorised[p[_HALF]],
        "unauthorised_sessions_this_term": unauthorised[p[_TERM]],
        "illness_sessions_this_term": got[_ROW[_TERM, Key.ILLNESS]],
        "medical_sessions_this_term": got[_ROW[_TERM, Key.MEDICAL]],
        "attendance_pct_last_2_school_weeks": pct[p[_W2]],
        "attendance_pct_last_4_school_weeks": pct[p[_W4]],
        "attendance_pct_last_6_school_weeks": pct[p[_W6]],
        "attendance_pct_last_10_school_weeks": pct[p[_W10]],
        "attendance_pct_previous_4_school_weeks": pct[p[_PREV4]],
        "attendance_trend": pct[p[_W4]] - pct[p[_PREV4]],
        "unauthorised_sessions_last_6_school_weeks": unauthorised[p[_W6]],
        "unauthorised_sessions_last_10_school_weeks": unauthorised[p[_W10]],
        "illness_sessions_last_10_school_weeks": got[_ROW[_W10, Key.ILLNESS]],
        "late_sessions_last_4_school_weeks": late[1],
        "late_sessions_previous_4_school_weeks": late[2],
        "attendance_pct_previous_term": pct[p[_PREV_TERM]],
        "unauthorised_sessions_previous_term": unauthorised[p[_PREV_TERM]],
    }
    if w.previous_term[0][day] < 0:  # no previous term in the calendars: unknown, not none
        values["unauthorised_sessions_previous_term"][:] = np.nan
    values.update(_today_facts(counts, day, ints, got))
    return values, ints


def _percentages(
    attended: FloatArray, possible: FloatArray, min_possible_ytd: int, min_possible_window: int
) -> FloatArray:
    """``attendance_percent`` of every window at once: the year to date (row 0) against its
    minimum, the others against the windows'."""
    minimum = _minimums(max(1, min_possible_ytd), max(1, min_possible_window), len(attended))
    # The same operations as ``attendance_percent``: divided by NaN where too few.
    denominator = np.where(possible < minimum, np.nan, possible)
    out = attended * 100.0
    out /= denominator
    return out


@cache
def _minimums(ytd: int, window: int, n: int) -> FloatArray:
    out = np.full((n, 1), float(window))
    out[0] = float(ytd)
    out.flags.writeable = False
    return out


def _shares(monday_friday: FloatArray, absence: FloatArray) -> dict[str, FloatArray]:
    """Shares of the year's absence (``_share`` of each, at once)."""
    parts = np.empty((3, absence.size))
    parts[:2] = monday_friday
    np.add(monday_friday[0], monday_friday[1], out=parts[2])
    parts /= np.where(absence == 0.0, np.nan, absence)
    return {
        "monday_absence_share": parts[0],
        "friday_absence_share": parts[1],
        "monday_friday_absence_share": parts[2],
    }


def _today_facts(
    counts: CumulativeCounts, day: int, ints: IntArray, got: FloatArray
) -> dict[str, FloatArray]:
    authorised, unauthorised = _TODAY_ABSENT
    unresolved = _ROW[_ALL, Key.N]
    # The first N ever counted is within the day's sessions wherever one of them is an N.
    first_n = counts.first_session_with(Key.N, counts.last_session)
    oldest = np.where(ints[unresolved] > 0, day - (first_n >> 1), 0)
    return {
        "absent_today": _flag((ints[authorised] + ints[unauthorised]) > 0),
        "unexplained_absence_today": _flag(ints[_ROW[_TODAY, Key.N]] > 0),
        "consecutive_unauthorised_school_days": _f(
            counts.unauthorised_days_ending(day, ints[unauthorised])
        ),
        "unresolved_n_sessions": got[unresolved],
        "oldest_unresolved_n_school_days": _f(oldest),
    }


def _legal_facts(
    counts: CumulativeCounts,
    w: DayWindows,
    day: int,
    ints: IntArray,
    of_age_today: npt.NDArray[np.bool_],
) -> dict[str, FloatArray]:
    """The unauthorised sessions that can found a legal step: those of the last 10 school weeks
    on days the pupil was of compulsory school age (a Reception child's autumn absence cannot
    found a penalty notice in January, when the child has just become of that age)."""
    start, stop = 2 * int(w.weeks[10][day]), 2 * day + 2
    # Of compulsory school age throughout the 10 weeks: the 10 weeks' count, as read for the
    # weeks' own facts. Only the pupils whose age begins or ends within them are counted apart.
    of_age = counts.unauthorised_of_compulsory_age(start, stop, ints[_UNAUTH][_PCT[_W10]])
    return {
        "unauthorised_sessions_of_compulsory_age_last_10_school_weeks": _f(of_age),
        "penalty_notice_threshold_met": _flag(
            (of_age >= PENALTY_NOTICE_THRESHOLD_SESSIONS) & of_age_today
        ),
    }


def _episode_facts(counts: CumulativeCounts, w: DayWindows, day: int) -> dict[str, FloatArray]:
    runs = counts.episodes
    return {
        "current_absence_episode_school_days": runs.current_run(day),
        "absence_episodes_this_term": runs.episodes_between(int(w.term[day]), day),
        "school_days_since_first_unexplained_absence_of_episode": (
            runs.days_since_first_unexplained(day)
        ),
        "consecutive_unexplained_school_days": runs.unexplained_days(day),
    }


def _f(counts: IntArray) -> FloatArray:
    """One count per pupil as the facts' floats (``as_float``'s conversion pays off on a block
    of counts; on one row, numpy's cost per call is most of it)."""
    out: FloatArray = counts.astype(np.float64)
    return out


def _flag(condition: npt.NDArray[np.bool_]) -> FloatArray:
    out: FloatArray = condition.astype(np.float64)
    return out


def _check_day(calendar: SchoolCalendar, day_index: int) -> None:
    if not 0 <= day_index < calendar.n_days:
        raise CalendarError(
            f"school day {day_index} is outside calendar {calendar.name} (0..{calendar.n_days - 1})"
        )
