"""How a letter writes figures, dates and times, and which figures it refuses."""

from __future__ import annotations

import math
from datetime import date, time

import pytest

from escalation_flow.errors import InputError
from escalation_flow.letters.context import (
    Figures,
    LetterContextError,
    clock_time,
    figures_from_facts,
    long_date,
    percent,
    sessions_as_days,
)
from escalation_flow.letters.sample import sample_context


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (92.4, "92.4%"),
        (100 * 231 / 250, "92.4%"),  # 92.39999999999999 as a float
        (89.96, "89.9%"),  # cut, not rounded: "below 90%" must not print "90.0%"
        (95.99999, "95.9%"),
        (100.0, "100.0%"),
        (0.0, "0.0%"),
        (100 * 103 / 114, "90.3%"),
    ],
)
def test_percentages_are_cut_to_one_decimal_place(value: float, shown: str) -> None:
    assert percent(value) == shown


def test_an_unknown_percentage_is_refused() -> None:
    with pytest.raises(LetterContextError):
        percent(math.nan)


@pytest.mark.parametrize(
    ("day", "shown"),
    [
        (date(2025, 11, 3), "Monday 3 November 2025"),
        (date(2026, 2, 28), "Saturday 28 February 2026"),
        (date(2025, 9, 21), "Sunday 21 September 2025"),
    ],
)
def test_dates_are_written_in_full(day: date, shown: str) -> None:
    assert long_date(day) == shown


@pytest.mark.parametrize(
    ("sessions", "shown"),
    [
        (0, "0 school days"),
        (1, "half a school day"),
        (2, "1 school day"),
        (3, "1½ school days"),
        (11, "5½ school days"),
        (114, "57 school days"),
    ],
)
def test_sessions_are_also_written_as_school_days(sessions: int, shown: str) -> None:
    assert sessions_as_days(sessions) == shown


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (time(9, 0), "9:00am"),
        (time(12, 0), "12 noon"),
        (time(12, 30), "12:30pm"),
        (time(15, 30), "3:30pm"),
        (time(0, 15), "12:15am"),
    ],
)
def test_times_are_written_as_on_a_letter_home(moment: time, shown: str) -> None:
    assert clock_time(moment) == shown


def test_impossible_figures_are_all_reported_at_once() -> None:
    with pytest.raises(LetterContextError) as caught:
        Figures(
            attendance_pct=math.nan,
            possible_sessions=10,
            absence_sessions=12,
            unauthorised_sessions=13,
            late_sessions_this_half_term=-1,
            period_from=date(2025, 10, 1),
            period_to=date(2025, 9, 30),
        )
    fields = {p.field for p in caught.value.problems}
    assert fields == {
        "attendance_pct",
        "absence_sessions",
        "unauthorised_sessions",
        "late_sessions_this_half_term",
        "period_from",
    }
    assert isinstance(caught.value, InputError)


def test_a_review_before_the_letter_is_refused() -> None:
    with pytest.raises(LetterContextError, match="dates"):
        sample_context(letter_date=date(2025, 11, 3), next_review=date(2025, 11, 1))


def test_figures_come_from_the_facts_by_name() -> None:
    facts = {
        "attendance_pct": 91.25,
        "possible_sessions": 160.0,
        "absence_sessions": 14.0,
        "unauthorised_absence_sessions": 4.0,
        "late_sessions_this_half_term": 2.0,
        "unauthorised_sessions_last_10_school_weeks": 3.0,
        "unresolved_n_sessions": 1.0,
        "attendance_pct_this_term": math.nan,
    }
    figures = figures_from_facts(facts, period_from=date(2025, 9, 3), period_to=date(2025, 12, 1))
    assert (figures.possible_sessions, figures.absence_sessions) == (160, 14)
    assert figures.unauthorised_sessions == 4
    assert figures.unauthorised_sessions_last_10_school_weeks == 3
    assert figures.unexplained_sessions == 1
    assert figures.attendance_pct_this_term is None  # unknown is left out, not printed as nan
    assert figures.illness_sessions_this_term is None


def test_facts_without_a_known_attendance_make_no_letter() -> None:
    facts = {
        "attendance_pct": math.nan,
        "possible_sessions": 8.0,
        "absence_sessions": 1.0,
        "late_sessions_this_half_term": 0.0,
    }
    with pytest.raises(LetterContextError) as caught:
        figures_from_facts(facts, period_from=date(2025, 9, 3), period_to=date(2025, 9, 8))
    assert {p.field for p in caught.value.problems} == {
        "attendance_pct",
        "unauthorised_absence_sessions",
    }


def test_a_prepared_letter_does_not_change_when_the_callers_dict_does() -> None:
    extra = {"target": "96%"}
    ctx = sample_context(extra=extra)
    extra["target"] = "changed"
    assert ctx.extra["target"] == "96%"
    with pytest.raises(TypeError):
        ctx.extra["target"] = "x"  # type: ignore[index]
