"""The school days a synthetic register covers, and what each day is like.

Every day here is a school day of the school's ``SchoolCalendar`` (from ``load_calendar``); the
generator never decides school days itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import Period, SchoolCalendar
from escalation_flow.errors import CalendarError

#: A gap of more than this many calendar days between school days is a break, not a (long)
#: weekend: half terms and holidays, not bank holidays or INSET days.
_WEEKEND_GAP = 5


@dataclass(frozen=True)
class Days:
    """The range's school days (index 0 = the first day of the range)."""

    dates: tuple[date, ...]
    weekday: npt.NDArray[np.int8]
    month: npt.NDArray[np.int8]
    #: relative chance of falling ill that day (mean 1): rises through a term, peaks the week
    #: before a break, higher in winter
    illness_weight: npt.NDArray[np.float64]
    before_break: npt.NDArray[np.bool_]  # the last school day before a break
    after_break: npt.NDArray[np.bool_]  # the first school day after a break
    half_term: npt.NDArray[np.int32]  # ordinal of the half term holding the day
    week: npt.NDArray[np.int32]  # ordinal of the school week holding the day
    utc_offset: tuple[str, ...]  # "+01:00" in BST, "+00:00" in GMT

    def __len__(self) -> int:
        return len(self.dates)


def range_days(calendar: SchoolCalendar, start: date, end: date) -> Days:
    """The school days of ``calendar`` from ``start`` to ``end`` inclusive.

    ``start`` may fall before the calendar begins (a school whose term starts a day later);
    ``end`` must lie inside it, so that a range is never cut short silently.
    """
    calendar.check_in_range(end)
    first = calendar.index_on_or_before(start - timedelta(days=1)) + 1
    last = calendar.index_on_or_before(end)
    if last < first:
        raise CalendarError(f"no school day from {start} to {end} in calendar {calendar.name}")
    idx = np.arange(first, last + 1)
    dates = calendar.school_days[first : last + 1]
    gap_after = np.array([_gap(calendar, int(i), +1) for i in idx], dtype=np.int32)
    gap_before = np.array([_gap(calendar, int(i), -1) for i in idx], dtype=np.int32)
    before_break = gap_after > _WEEKEND_GAP
    half_term = _period_ordinals(calendar.half_terms, first, last)
    zone = ZoneInfo(calendar.timezone)
    return Days(
        dates=dates,
        weekday=np.array([d.weekday() for d in dates], dtype=np.int8),
        month=np.array([d.month for d in dates], dtype=np.int8),
        illness_weight=_illness_weight(calendar, idx, dates, before_break),
        before_break=before_break,
        after_break=gap_before > _WEEKEND_GAP,
        half_term=half_term - half_term[0],
        week=calendar.week_of_day[first : last + 1] - calendar.week_of_day[first],
        utc_offset=tuple(_offset(d, zone) for d in dates),
    )


def _gap(calendar: SchoolCalendar, i: int, step: int) -> int:
    """Calendar days to the next (or previous) school day; a calendar's ends count as breaks."""
    j = i + step
    if not 0 <= j < calendar.n_days:
        return 99
    return abs((calendar.school_days[j] - calendar.school_days[i]).days)


def _period_ordinals(periods: tuple[Period, ...], first: int, last: int) -> npt.NDArray[np.int32]:
    """For each school day ``first..last``, the ordinal of the period holding it."""
    out = np.zeros(last - first + 1, dtype=np.int32)
    for k, p in enumerate(periods):
        lo, hi = max(p.first, first), min(p.last, last)
        if lo <= hi:
            out[lo - first : hi - first + 1] = k
    return out


def _illness_weight(
    calendar: SchoolCalendar,
    idx: npt.NDArray[np.int64],
    dates: tuple[date, ...],
    before_break: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    progress = np.empty(len(idx))
    for term in calendar.terms_periods:
        span = (idx >= term.first) & (idx <= term.last)
        progress[span] = (idx[span] - term.first) / max(1, term.last - term.first)
    # school days until the next break (0 on the last day before it)
    positions = np.where(before_break, np.arange(len(idx)), len(idx) + 10)
    next_break = np.minimum.accumulate(positions[::-1])[::-1]
    last_week = (next_break - np.arange(len(idx))) < 5
    winter = np.array([d.month in (12, 1, 2) for d in dates])
    weight: npt.NDArray[np.float64] = 1.0 + 0.4 * progress + 0.9 * last_week + 0.3 * winter
    return weight / float(weight.mean())


def _offset(d: date, zone: ZoneInfo) -> str:
    delta = datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
