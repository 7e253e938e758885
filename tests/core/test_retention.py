"""The retention policy's rules, pure: a mark expires six years (or the trust's longer term)
after its own date; a closed case the trust's years after it closed; open cases and held pupils
never; a pupil's roster row only once nothing of theirs remains."""

from __future__ import annotations

from datetime import date

import pytest

from escalation_flow.core.retention import (
    CaseDates,
    PupilMarks,
    RetentionPolicy,
    plan,
    policy_problems,
    register_cutoff,
    years_after,
    years_before,
)

POLICY = RetentionPolicy(registers_years=6, closed_cases_years=3)
TODAY = date(2026, 7, 20)


@pytest.mark.parametrize(
    ("day", "years", "before", "after"),
    [
        (date(2026, 7, 20), 6, date(2020, 7, 20), date(2032, 7, 20)),
        (date(2028, 2, 29), 6, date(2022, 2, 28), date(2034, 3, 1)),  # a leap day
    ],
)
def test_years_before_and_after_fall_back_safely_on_a_leap_day(
    day: date, years: int, before: date, after: date
) -> None:
    assert years_before(day, years) == before
    assert years_after(day, years) == after


def test_a_mark_expires_six_years_after_its_own_date_not_before() -> None:
    cutoff = register_cutoff(POLICY, TODAY)
    assert cutoff == date(2020, 7, 20)
    assert date(2020, 7, 19) < cutoff  # kept six years and a day: due
    assert not date(2020, 7, 20) < cutoff  # six years to the day: kept today


def case(pupil: str, closed: date | None, *, is_open: bool = False) -> CaseDates:
    return CaseDates("s", pupil, int(pupil[1:]), is_open, closed, 5, "h")


def test_closed_cases_are_due_after_the_trusts_years_and_open_ones_never() -> None:
    found = plan(
        POLICY,
        TODAY,
        [case("P1", date(2023, 7, 19)), case("P2", date(2023, 7, 20)),
         case("P3", None, is_open=True)],
        [],
        {},
    )  # fmt: skip
    assert [c.pupil for c in found.cases_due] == ["P1"]
    why = {k.pupil: k.why for k in found.kept}
    assert why["P2"] == "closed on 2023-07-20: kept until 2026-07-20"
    assert "never erased" in why["P3"]


def test_a_held_pupils_case_and_marks_are_kept_with_the_reason() -> None:
    holds = {("s", "P1"): "penalty notice 4 is unpaid"}
    found = plan(
        POLICY, TODAY, [case("P1", date(2019, 1, 1))],
        [PupilMarks("s", "P1", 40, date(2019, 7, 1))], holds,
    )  # fmt: skip
    assert not found.cases_due and not found.marks_due and not found.pupils_due
    assert {(k.what, k.why) for k in found.kept} == {
        ("case", "penalty notice 4 is unpaid"),
        ("marks", "40 marks: penalty notice 4 is unpaid"),
    }


def test_a_pupils_roster_row_goes_only_when_every_mark_expired_and_no_case_is_kept() -> None:
    marks = [
        PupilMarks("s", "P1", 10, date(2020, 7, 1)),  # left in 2020, no case: goes
        PupilMarks("s", "P2", 10, date(2025, 7, 1)),  # still on roll: marks go, row stays
        PupilMarks("s", "P3", 10, date(2020, 7, 1)),  # left, but a case kept
        PupilMarks("s", "P4", 0, None),  # no marks yet (a new pupil): stays
    ]
    found = plan(POLICY, TODAY, [case("P3", date(2025, 1, 1))], marks, {})
    assert found.pupils_due == [("s", "P1")]
    assert found.marks_due == {("s", "P1"): 10, ("s", "P2"): 10, ("s", "P3"): 10}


@pytest.mark.parametrize(
    ("registers", "cases", "field", "words"),
    [
        (5, 6, "registers_years", "shorter than the law allows"),
        ("six", 6, "registers_years", "whole number"),
        (6, None, "closed_cases_years", "required once retention is configured"),
        (6, 0, "closed_cases_years", "at least 1"),
    ],
)
def test_a_policy_the_law_or_sense_forbids_is_refused_naming_the_field(
    registers: object, cases: object, field: str, words: str
) -> None:
    problems = policy_problems(registers, cases)
    assert words in problems[field]


def test_a_longer_register_term_is_allowed() -> None:
    assert policy_problems(10, 6) == {}
