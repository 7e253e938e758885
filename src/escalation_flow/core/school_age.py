"""Compulsory school age in England, from a date of birth.

A child becomes of compulsory school age at the start of the term after their fifth birthday
(for this purpose terms start on 1 September, 1 January and 1 April: the law's "prescribed days"
are the days before) and stays so until the school-leaving date, the last Friday in June of the
school year (1 September to 31 August) in which they turn 16.
"""

from __future__ import annotations

import calendar as civil
from datetime import date, timedelta
from functools import lru_cache

#: The span used when the date of birth is unknown: always of compulsory school age.
ALWAYS: tuple[date, date] = (date.min, date.max)

_TERM_STARTS = ((1, 1), (4, 1), (9, 1))


def birthday(date_of_birth: date, age: int) -> date:
    """The day someone reaches ``age``; born on 29 February, 1 March in a common year."""
    year = date_of_birth.year + age
    if date_of_birth.month == 2 and date_of_birth.day == 29 and not civil.isleap(year):
        return date(year, 3, 1)
    return date_of_birth.replace(year=year)


def last_friday_of_june(year: int) -> date:
    d = date(year, 6, 30)
    return d - timedelta(days=(d.weekday() - 4) % 7)


@lru_cache(maxsize=1 << 14)  # a trust's register read each evening asks for every pupil's
def compulsory_school_age_span(date_of_birth: date | None) -> tuple[date, date]:
    """The first and last day (inclusive) of compulsory school age; unknown birth: ``ALWAYS``."""
    if date_of_birth is None:
        return ALWAYS
    fifth = birthday(date_of_birth, 5)
    start = min(
        date(year, month, day)
        for year in (fifth.year, fifth.year + 1)
        for month, day in _TERM_STARTS
        if date(year, month, day) > fifth
    )
    sixteenth = birthday(date_of_birth, 16)
    school_year_ends = sixteenth.year + (1 if sixteenth.month >= 9 else 0)
    return start, last_friday_of_june(school_year_ends)


#: The date-of-birth rule, in words, for refusals and the check.
AGE_RULE = (
    "compulsory school age starts on 1 January, 1 April or 1 September, whichever comes first "
    "after the fifth birthday, and ends on the last Friday in June of the school year of the "
    "sixteenth birthday"
)


def born_words(born: date | None, span: tuple[date, date]) -> str:
    """``born 2021-08-06: of compulsory school age from 2026-09-01 to 2037-06-26 (the rule)``."""
    if born is None or span == ALWAYS:
        return "date of birth not on the roster: taken as of compulsory school age"
    start, end = span
    return (
        f"born {born.isoformat()}: of compulsory school age from {start.isoformat()} to "
        f"{end.isoformat()}; {AGE_RULE}"
    )
