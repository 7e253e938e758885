"""Register facts worked out window by window, one count at a time: for a big school.

``core.facts`` reads every count of a day's windows at once, a few dozen rows of every pupil: on
a school of a thousand pupils numpy's cost per call is most of a day's facts, and one gather for
all of them pays it a few times instead of a few hundred. On a school of many thousands those rows
are megabytes, and each pass over them waits on memory, where a window's columns at a time stay in
the cache: there, this way is faster (issue 13). The same figures, bit for bit
(``tests/core/test_facts.py`` holds both ways to the way they were first counted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.packed_counts import (
    Key,
    WindowCounts,
    Words,
    as_float,
    attendance_percent,
)
from escalation_flow.core.projection import year_end_projection
from escalation_flow.core.session_counts import CumulativeCounts

if TYPE_CHECKING:
    from escalation_flow.core.facts import DayWindows

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
_WEEK_WINDOWS = (2, 4, 6, 8, 10)


def facts_by_window(
    counts: CumulativeCounts,
    w: DayWindows,
    day_index: int,
    *,
    min_possible_sessions_ytd: int,
    min_possible_sessions_window: int,
) -> dict[str, FloatArray]:
    """Every register fact at the end of ``day_index``, by name."""
    calendar = counts.calendar
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
    return {name: values[name] for name in REGISTER_FACTS}


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
    of_age = counts.unauthorised_of_compulsory_age(
        start, stop, cols.between(start, stop - 1).unauthorised
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
        "current_absence_episode_school_days": runs.current_run(day),
        "absence_episodes_this_term": runs.episodes_between(int(w.term[day]), day),
        "school_days_since_first_unexplained_absence_of_episode": (
            runs.days_since_first_unexplained(day)
        ),
        "consecutive_unexplained_school_days": runs.unexplained_days(day),
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

