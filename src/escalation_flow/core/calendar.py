"""School time: school days, sessions, terms, half terms, school weeks, school-day arithmetic.

A ``SchoolCalendar`` covers one or more consecutive academic years of one school. Everything is
indexed by *school-day index* (0 for the first school day of the first year) so that registers
can be numpy arrays with two columns per school day (AM at ``2*i``, PM at ``2*i + 1``).

Holidays never use up review periods: every "N school days/weeks" sum walks this index, not the
civil calendar.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from escalation_flow.errors import CalendarError

#: When registers close (local time) at a school whose trust file names no time: the one default
#: the daemon, the backtest, replay and the pages share.
DEFAULT_REGISTERS_CLOSE = time(16, 30)


class Session(StrEnum):
    AM = "AM"
    PM = "PM"


class TermName(StrEnum):
    AUTUMN = "autumn"
    SPRING = "spring"
    SUMMER = "summer"


@dataclass(frozen=True)
class Term:
    name: TermName
    start: date
    end: date
    half_term: tuple[date, date] | None
    year: str  # the academic year's calendar name, e.g. "kent-2025-26"

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


@dataclass(frozen=True)
class YearSpec:
    """One academic year as read from one calendar file."""

    name: str
    timezone: str
    terms: tuple[Term, ...]
    closures: frozenset[date]
    source_digest: str = ""


@dataclass(frozen=True)
class Period:
    """A stretch of school days, inclusive on both ends, as indices."""

    name: str
    first: int
    last: int

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.first <= index <= self.last


@dataclass(frozen=True)
class SchoolCalendar:
    """The school days of one school over one or more academic years."""

    name: str
    timezone: str
    years: tuple[YearSpec, ...]
    school_days: tuple[date, ...]
    bank_holidays: frozenset[date]
    version: str
    _index: dict[date, int] = field(repr=False, compare=False, hash=False)
    #: For each school day, the ordinal of its school week (a week with at least one session).
    week_of_day: npt.NDArray[np.int32] = field(repr=False, compare=False, hash=False)
    #: For each school week, the index of its first and last school day.
    week_first_day: npt.NDArray[np.int32] = field(repr=False, compare=False, hash=False)
    week_last_day: npt.NDArray[np.int32] = field(repr=False, compare=False, hash=False)
    half_terms: tuple[Period, ...] = field(repr=False, compare=False, hash=False)
    terms_periods: tuple[Period, ...] = field(repr=False, compare=False, hash=False)
    year_periods: tuple[Period, ...] = field(repr=False, compare=False, hash=False)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def build(
        cls, years: Sequence[YearSpec], bank_holidays: Iterable[date] = (), version: str = ""
    ) -> SchoolCalendar:
        if not years:
            raise CalendarError("a calendar needs at least one academic year")
        holidays = frozenset(bank_holidays)
        days: list[date] = []
        half_terms: list[Period] = []
        terms: list[Period] = []
        year_periods: list[Period] = []
        for year in years:
            year_first = len(days)
            for term in year.terms:
                term_first = len(days)
                before_break = _weekdays(term.start, term.end)
                term_days = [
                    d
                    for d in before_break
                    if d not in year.closures
                    and d not in holidays
                    and not (term.half_term and term.half_term[0] <= d <= term.half_term[1])
                ]
                if days and term_days and term_days[0] <= days[-1]:
                    raise CalendarError(
                        f"calendar {year.name}: term {term.name} starts on {term.start}, "
                        f"before the previous term ends"
                    )
                days.extend(term_days)
                if len(days) == term_first:
                    continue
                terms.append(Period(f"{year.name} {term.name}", term_first, len(days) - 1))
                half_terms.extend(_half_term_periods(year.name, term, term_first, days))
            if len(days) > year_first:
                year_periods.append(Period(year.name, year_first, len(days) - 1))
        if not days:
            raise CalendarError(f"calendar {years[0].name} has no school days")
        week_of_day, week_first, week_last = _school_weeks(days)
        return cls(
            name=years[0].name if len(years) == 1 else f"{years[0].name}..{years[-1].name}",
            timezone=years[0].timezone,
            years=tuple(years),
            school_days=tuple(days),
            bank_holidays=holidays,
            version=version,
            _index={d: i for i, d in enumerate(days)},
            week_of_day=week_of_day,
            week_first_day=week_first,
            week_last_day=week_last,
            half_terms=tuple(half_terms),
            terms_periods=tuple(terms),
            year_periods=tuple(year_periods),
        )

    # -- days and sessions ----------------------------------------------------------------------

    @property
    def first_day(self) -> date:
        return self.school_days[0]

    @property
    def last_day(self) -> date:
        return self.school_days[-1]

    @property
    def n_days(self) -> int:
        return len(self.school_days)

    @property
    def n_sessions(self) -> int:
        return 2 * len(self.school_days)

    def is_school_day(self, d: date) -> bool:
        return d in self._index

    def check_in_range(self, d: date) -> None:
        """Refuse a date before the first or after the last day this calendar covers."""
        start = self.years[0].terms[0].start
        end = self.years[-1].terms[-1].end
        if not start <= d <= end:
            raise CalendarError(
                f"{d.isoformat()} is outside calendar {self.name} "
                f"({start.isoformat()} to {end.isoformat()})"
            )

    def day_index(self, d: date) -> int:
        """The index of a school day; a non-school day or a date outside is an error."""
        try:
            return self._index[d]
        except KeyError:
            self.check_in_range(d)
            raise CalendarError(
                f"{d.isoformat()} is not a school day in calendar {self.name} "
                f"({_why_not(self, d)})"
            ) from None

    def index_on_or_before(self, d: date) -> int:
        """The index of the last school day on or before ``d`` (-1 if none)."""
        return bisect.bisect_right(self.school_days, d) - 1

    def session_index(self, d: date, session: Session | str) -> int:
        return 2 * self.day_index(d) + (0 if Session(session) is Session.AM else 1)

    def day_of_session(self, session_index: int) -> date:
        return self.school_days[session_index // 2]

    # -- arithmetic ------------------------------------------------------------------------------

    def add_school_days(self, d: date, n: int) -> date:
        """The ``n``-th school day after ``d`` (``d`` itself need not be a school day)."""
        target = self.index_on_or_before(d) + n
        if target >= len(self.school_days):
            raise CalendarError(
                f"{n} school days after {d.isoformat()} falls beyond the end of calendar "
                f"{self.name} ({self.last_day.isoformat()}); add the next year's calendar"
            )
        if target < 0:
            raise CalendarError(f"{d.isoformat()} is before calendar {self.name} starts")
        return self.school_days[target]

    def add_school_weeks(self, d: date, n: int) -> date:
        """The same weekday ``n`` school weeks later (weeks without sessions do not count).

        In the target week, the last school day on or before ``d``'s weekday; if the week starts
        later than that weekday, its first school day.
        """
        anchor = self.index_on_or_before(d)
        if anchor < 0:
            raise CalendarError(f"{d.isoformat()} is before calendar {self.name} starts")
        week = int(self.week_of_day[anchor]) + n
        if week >= len(self.week_first_day):
            raise CalendarError(
                f"{n} school weeks after {d.isoformat()} falls beyond the end of calendar "
                f"{self.name} ({self.last_day.isoformat()}); add the next year's calendar"
            )
        first, last = int(self.week_first_day[week]), int(self.week_last_day[week])
        chosen = first
        for i in range(first, last + 1):
            if self.school_days[i].weekday() <= d.weekday():
                chosen = i
        return self.school_days[chosen]

    def next_school_day_on_or_after(self, d: date) -> date:
        i = bisect.bisect_left(self.school_days, d)
        if i >= len(self.school_days):
            raise CalendarError(
                f"no school day on or after {d.isoformat()} in calendar {self.name}"
            )
        return self.school_days[i]

    def school_days_between(self, start: date, end: date) -> int:
        """School days in ``(start, end]``: how many school days old something from ``start`` is."""
        return max(0, self.index_on_or_before(end) - self.index_on_or_before(start))

    # -- periods of counting ---------------------------------------------------------------------

    def half_term_of(self, index: int) -> Period:
        return _period_holding(self.half_terms, index, "half term", self)

    def term_of(self, index: int) -> Period:
        return _period_holding(self.terms_periods, index, "term", self)

    def year_of(self, index: int) -> Period:
        return _period_holding(self.year_periods, index, "academic year", self)

    def term_name_of(self, index: int) -> TermName:
        d = self.school_days[index]
        for year in self.years:
            for term in year.terms:
                if term.contains(d):
                    return term.name
        raise CalendarError(f"{d.isoformat()} is in no term of calendar {self.name}")

    def weeks_back_first_day(self, index: int, weeks: int) -> int:
        """First school-day index of the window of ``weeks`` school weeks ending with ``index``'s week."""
        week = int(self.week_of_day[index])
        return int(self.week_first_day[max(0, week - weeks + 1)])


def _weekdays(start: date, end: date) -> list[date]:
    out: list[date] = []
    d = start
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def _half_term_periods(
    year_name: str, term: Term, term_first: int, days: list[date]
) -> list[Period]:
    last = len(days) - 1
    if term.half_term is None:
        return [Period(f"{year_name} {term.name}", term_first, last)]
    split = bisect.bisect_left(days, term.half_term[0], lo=term_first, hi=last + 1)
    periods = []
    if split > term_first:
        periods.append(Period(f"{year_name} {term.name} 1", term_first, split - 1))
    if split <= last:
        periods.append(Period(f"{year_name} {term.name} 2", split, last))
    return periods


def _school_weeks(
    days: list[date],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    week_of_day = np.empty(len(days), dtype=np.int32)
    firsts: list[int] = []
    lasts: list[int] = []
    current: tuple[int, int] | None = None
    for i, d in enumerate(days):
        iso = d.isocalendar()
        key = (iso.year, iso.week)
        if key != current:
            current = key
            firsts.append(i)
            lasts.append(i)
        lasts[-1] = i
        week_of_day[i] = len(firsts) - 1
    return week_of_day, np.array(firsts, dtype=np.int32), np.array(lasts, dtype=np.int32)


def _period_holding(
    periods: Sequence[Period], index: int, what: str, calendar: SchoolCalendar
) -> Period:
    for p in periods:
        if p.first <= index <= p.last:
            return p
    raise CalendarError(f"school day {index} is in no {what} of calendar {calendar.name}")


def _why_not(calendar: SchoolCalendar, d: date) -> str:
    if d.weekday() >= 5:
        return "a weekend"
    if d in calendar.bank_holidays:
        return "a bank holiday"
    for year in calendar.years:
        if d in year.closures:
            return "a closure"
        for term in year.terms:
            if term.half_term and term.half_term[0] <= d <= term.half_term[1]:
                return f"{term.name} half-term break"
            if term.contains(d):
                return "not a school day"
    return "a school holiday"
