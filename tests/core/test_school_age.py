"""Compulsory school age: from the term after the fifth birthday to the last Friday in June of
the school year in which the pupil turns 16."""

from __future__ import annotations

from datetime import date

import pytest

from escalation_flow.core.school_age import ALWAYS, compulsory_school_age_span


@pytest.mark.parametrize(
    ("born", "first", "last"),
    [
        # Fifth birthday the day before a term starts: of age from that term.
        (date(2020, 8, 31), date(2025, 9, 1), date(2036, 6, 27)),
        # Fifth birthday on the first day of a term: of age from the next one.
        (date(2020, 9, 1), date(2026, 1, 1), date(2037, 6, 26)),
        (date(2020, 12, 31), date(2026, 1, 1), date(2037, 6, 26)),
        (date(2021, 1, 1), date(2026, 4, 1), date(2037, 6, 26)),
        (date(2021, 3, 31), date(2026, 4, 1), date(2037, 6, 26)),
        (date(2021, 4, 1), date(2026, 9, 1), date(2037, 6, 26)),
        # Born on 29 February: the fifth birthday falls on 1 March in a common year.
        (date(2020, 2, 29), date(2025, 4, 1), date(2036, 6, 27)),
    ],
)
def test_compulsory_school_age_span(born: date, first: date, last: date) -> None:
    assert compulsory_school_age_span(born) == (first, last)


def test_an_unknown_date_of_birth_is_always_of_compulsory_school_age() -> None:
    assert compulsory_school_age_span(None) == ALWAYS
