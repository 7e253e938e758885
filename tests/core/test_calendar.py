"""School time: which days are school days, the periods they fall in, and school-day arithmetic.

The calendar here is England 2025-26 written out by hand (no files, no ``holidays`` library), so
that every expected date below can be checked against a paper calendar.
"""

from __future__ import annotations

from datetime import date

import pytest

from escalation_flow.core.calendar import SchoolCalendar, Term, TermName, YearSpec
from escalation_flow.errors import CalendarError

YEAR = "england-2025-26"
BANK_HOLIDAYS = (
    date(2025, 12, 25),
    date(2025, 12, 26),
    date(2026, 1, 1),
    date(2026, 4, 3),  # Good Friday, in the Easter holiday
    date(2026, 4, 6),  # Easter Monday, in the Easter holiday
    date(2026, 5, 4),  # Early May bank holiday, a Monday in the summer term
    date(2026, 5, 25),  # Spring bank holiday, in the summer half term
)


def _year_2025_26() -> YearSpec:
    terms = (
        Term(TermName.AUTUMN, date(2025, 9, 3), date(2025, 12, 19), (date(2025, 10, 27), date(2025, 10, 31)), YEAR),
        Term(TermName.SPRING, date(2026, 1, 5), date(2026, 3, 27), (date(2026, 2, 16), date(2026, 2, 20)), YEAR),
        Term(TermName.SUMMER, date(2026, 4, 13), date(2026, 7, 21), (date(2026, 5, 25), date(2026, 5, 29)), YEAR),
    )  # fmt: skip
    inset = frozenset({date(2025, 10, 24), date(2026, 1, 5), date(2026, 7, 20)})
    return YearSpec(YEAR, "Europe/London", terms, inset)


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return SchoolCalendar.build([_year_2025_26()], bank_holidays=BANK_HOLIDAYS)


def test_a_year_has_its_school_days_of_two_sessions(calendar: SchoolCalendar) -> None:
    # 72 autumn + 54 spring + 65 summer: three INSET days are listed, not the usual five.
    assert calendar.n_days == 191
    assert calendar.n_sessions == 382
    assert (calendar.first_day, calendar.last_day) == (date(2025, 9, 3), date(2026, 7, 21))


@pytest.mark.parametrize(
    ("day", "is_school_day"),
    [
        (date(2025, 9, 3), True),  # first day of term
        (date(2025, 9, 6), False),  # Saturday
        (date(2025, 10, 23), True),
        (date(2025, 10, 24), False),  # INSET day
        (date(2025, 10, 29), False),  # half term
        (date(2025, 11, 3), True),
        (date(2025, 12, 19), True),  # last day of the autumn term
        (date(2025, 12, 22), False),  # Christmas holiday
        (date(2026, 1, 5), False),  # INSET day on the first day of term
        (date(2026, 1, 6), True),
        (date(2026, 5, 4), False),  # Early May bank holiday inside the term
        (date(2026, 5, 5), True),
        (date(2026, 7, 20), False),  # INSET day
        (date(2026, 7, 21), True),
    ],
)
def test_school_days_are_term_weekdays_outside_breaks_closures_and_bank_holidays(
    calendar: SchoolCalendar, day: date, is_school_day: bool
) -> None:
    assert calendar.is_school_day(day) is is_school_day


def test_sessions_are_numbered_two_a_day_from_the_first_school_day(
    calendar: SchoolCalendar,
) -> None:
    assert calendar.session_index(date(2025, 9, 3), "AM") == 0
    assert calendar.session_index(date(2025, 9, 3), "PM") == 1
    assert calendar.session_index(date(2025, 9, 4), "AM") == 2
    assert calendar.day_of_session(3) == date(2025, 9, 4)


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (date(2025, 9, 6), "2025-09-06 is not a school day in calendar england-2025-26 (a weekend)"),
        (date(2025, 10, 24), "2025-10-24 is not a school day in calendar england-2025-26 (a closure)"),
        (date(2025, 10, 29), "2025-10-29 is not a school day in calendar england-2025-26 (autumn half-term break)"),
        (date(2025, 12, 23), "2025-12-23 is not a school day in calendar england-2025-26 (a school holiday)"),
        (date(2026, 5, 4), "2026-05-04 is not a school day in calendar england-2025-26 (a bank holiday)"),
        (date(2025, 9, 2), "2025-09-02 is outside calendar england-2025-26 (2025-09-03 to 2026-07-21)"),
        (date(2026, 7, 22), "2026-07-22 is outside calendar england-2025-26 (2025-09-03 to 2026-07-21)"),
    ],
)  # fmt: skip
def test_a_day_that_is_not_a_school_day_is_refused_with_the_reason(
    calendar: SchoolCalendar, day: date, message: str
) -> None:
    with pytest.raises(CalendarError) as raised:
        calendar.day_index(day)
    assert raised.value.summary == message


@pytest.mark.parametrize(
    ("day", "name", "first", "last"),
    [
        (date(2025, 9, 3), "england-2025-26 autumn 1", date(2025, 9, 3), date(2025, 10, 23)),
        (date(2025, 10, 23), "england-2025-26 autumn 1", date(2025, 9, 3), date(2025, 10, 23)),
        (date(2025, 11, 3), "england-2025-26 autumn 2", date(2025, 11, 3), date(2025, 12, 19)),
        (date(2026, 1, 6), "england-2025-26 spring 1", date(2026, 1, 6), date(2026, 2, 13)),
        (date(2026, 3, 27), "england-2025-26 spring 2", date(2026, 2, 23), date(2026, 3, 27)),
        (date(2026, 5, 22), "england-2025-26 summer 1", date(2026, 4, 13), date(2026, 5, 22)),
        (date(2026, 6, 1), "england-2025-26 summer 2", date(2026, 6, 1), date(2026, 7, 21)),
    ],
)
def test_a_half_term_runs_from_a_terms_start_to_its_break_or_from_the_break_to_its_end(
    calendar: SchoolCalendar, day: date, name: str, first: date, last: date
) -> None:
    period = calendar.half_term_of(calendar.day_index(day))
    assert period.name == name
    assert calendar.school_days[period.first] == first
    assert calendar.school_days[period.last] == last


def test_terms_and_the_year_are_periods_too(calendar: SchoolCalendar) -> None:
    spring = calendar.term_of(calendar.day_index(date(2026, 2, 2)))
    assert (calendar.school_days[spring.first], calendar.school_days[spring.last]) == (
        date(2026, 1, 6),
        date(2026, 3, 27),
    )
    assert calendar.term_name_of(calendar.day_index(date(2026, 2, 2))) is TermName.SPRING
    year = calendar.year_of(100)
    assert (year.name, year.first, year.last) == (YEAR, 0, 190)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 9, 3), 1, date(2025, 9, 4)),
        (date(2025, 9, 5), 1, date(2025, 9, 8)),  # over a weekend
        (date(2025, 10, 23), 1, date(2025, 11, 3)),  # over the INSET day and the half term
        (date(2025, 10, 13), 15, date(2025, 11, 11)),  # a "15 day review" across half term
        (date(2025, 10, 25), 1, date(2025, 11, 3)),  # from a Saturday in the break
        (date(2025, 12, 19), 1, date(2026, 1, 6)),  # over Christmas and the January INSET day
        (date(2026, 3, 27), 1, date(2026, 4, 13)),  # over Easter
        (date(2026, 5, 1), 1, date(2026, 5, 5)),  # over the May Day bank holiday
        (date(2025, 9, 3), 0, date(2025, 9, 3)),
        (date(2025, 9, 1), 1, date(2025, 9, 3)),  # from before the first day
    ],
)
def test_add_school_days_skips_every_day_that_is_not_a_school_day(
    calendar: SchoolCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_school_days(start, n) == expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 9, 10), 1, date(2025, 9, 17)),  # Wednesday to Wednesday
        (date(2025, 10, 22), 1, date(2025, 11, 5)),  # the half-term week has no sessions
        (date(2025, 10, 20), 2, date(2025, 11, 10)),
        (date(2025, 10, 21), 1, date(2025, 11, 4)),
        (date(2025, 10, 17), 1, date(2025, 10, 23)),  # Friday into a week ending on Thursday
        (date(2025, 12, 17), 1, date(2026, 1, 7)),  # over Christmas
        (date(2025, 12, 15), 1, date(2026, 1, 6)),  # Monday: that week starts on Tuesday
        (date(2025, 9, 3), 4, date(2025, 10, 1)),
    ],
)
def test_add_school_weeks_counts_only_weeks_with_sessions(
    calendar: SchoolCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_school_weeks(start, n) == expected


def test_arithmetic_past_the_calendar_end_asks_for_the_next_year(calendar: SchoolCalendar) -> None:
    with pytest.raises(CalendarError, match="beyond the end of calendar england-2025-26"):
        calendar.add_school_days(date(2026, 7, 21), 1)
    with pytest.raises(CalendarError, match="add the next year's calendar"):
        calendar.add_school_weeks(date(2026, 7, 14), 2)
    with pytest.raises(CalendarError, match="before calendar england-2025-26 starts"):
        calendar.add_school_weeks(date(2025, 8, 1), 1)


def test_school_days_between_counts_the_days_after_the_start(calendar: SchoolCalendar) -> None:
    assert calendar.school_days_between(date(2025, 10, 23), date(2025, 11, 4)) == 2
    assert calendar.school_days_between(date(2025, 11, 4), date(2025, 10, 23)) == 0


def test_ten_school_weeks_back_reaches_over_the_half_term(calendar: SchoolCalendar) -> None:
    last = calendar.day_index(date(2025, 11, 14))  # the 10th school week of the year
    assert calendar.school_days[calendar.weeks_back_first_day(last, 10)] == date(2025, 9, 3)
    assert calendar.school_days[calendar.weeks_back_first_day(last, 2)] == date(2025, 11, 3)


def test_two_years_make_one_index_that_crosses_the_summer() -> None:
    second = YearSpec(
        "england-2026-27",
        "Europe/London",
        (Term(TermName.AUTUMN, date(2026, 9, 2), date(2026, 12, 18), None, "england-2026-27"),),
        frozenset(),
    )
    both = SchoolCalendar.build([_year_2025_26(), second], bank_holidays=BANK_HOLIDAYS)
    assert both.name == "england-2025-26..england-2026-27"
    assert both.add_school_days(date(2026, 7, 21), 1) == date(2026, 9, 2)
    assert both.day_index(date(2026, 9, 2)) == 191
    with pytest.raises(
        CalendarError, match=r"2026-08-10 is not a school day .*\(a school holiday\)"
    ):
        both.day_index(date(2026, 8, 10))


def test_overlapping_terms_are_refused() -> None:
    year = _year_2025_26()
    clash = Term(TermName.SPRING, date(2025, 12, 1), date(2026, 3, 27), None, YEAR)
    overlapping = YearSpec(YEAR, "Europe/London", (year.terms[0], clash), frozenset())
    with pytest.raises(CalendarError, match="starts on 2025-12-01, before the previous term ends"):
        SchoolCalendar.build([overlapping])
