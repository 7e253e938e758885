"""The local authority's monthly notifications: 10 consecutive school days of unauthorised
absence, and 15 school days expected through illness, checked by hand on the 2025-26 calendar."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

from escalation_flow.core.la_monthly import (
    earlier_notifications,
    illness_expected,
    unauthorised_runs,
)
from escalation_flow.core.register import AssumeRecordedAtEndOfDay, register_as_known_at
from escalation_flow.core.session_counts import CumulativeCounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from register_builders import Row, bundled_calendar, mark_table, school_days, whole_days

CAL = bundled_calendar("2025-26")
AUTUMN = school_days(CAL, date(2025, 9, 3), date(2025, 12, 19))


def counts(rows: list[Row], through: date) -> CumulativeCounts:
    grid = register_as_known_at(
        mark_table(CAL, rows), CAL, known_at=None, unknown_recorded_at=AssumeRecordedAtEndOfDay()
    )
    return CumulativeCounts(grid, CAL, through_day=CAL.day_index(through))


def pupil(name: str, absent: list[date], code: str) -> list[Row]:
    present = [d for d in AUTUMN if d not in absent]
    return whole_days(CAL, name, present, "/") + whole_days(CAL, name, absent, code)


def month(first: date, last: date) -> tuple[int, int]:
    return CAL.index_on_or_before(first), CAL.index_on_or_before(last)


def test_ten_school_days_in_a_row_are_listed_nine_are_not_and_a_run_from_last_month_counts() -> (
    None
):
    november = [d for d in AUTUMN if d.month == 11]
    rows = pupil("TEN", november[2:12], "O")  # 5 to 18 November: ten school days
    rows += pupil("NINE", november[2:11], "N")
    # 22 October (Wednesday) to 7 November: 2 days, the INSET day and half term between, then 5.
    rows += pupil("ACROSS", school_days(CAL, date(2025, 10, 22), date(2025, 11, 7)), "G")
    rows += pupil("MIXED", november[2:12], "O")
    rows = [r for r in rows if not (r[0] == "MIXED" and r[1] == november[6] and r[2] == "PM")]
    rows += [("MIXED", november[6], "PM", "I", None)]  # one authorised session breaks the run
    data = counts(rows, date(2025, 11, 28))
    first, last = month(date(2025, 11, 3), date(2025, 11, 28))
    runs = {r.pupil: r for r in unauthorised_runs(data, first, last)}
    assert sorted(runs) == ["TEN"]
    ten = runs["TEN"]
    assert (CAL.school_days[ten.first_day], CAL.school_days[ten.last_day], ten.days) == (
        date(2025, 11, 5), date(2025, 11, 18), 10,
    )  # fmt: skip
    # ACROSS: 22, 23 October and 3-7 November are 7 school days (24 October is an INSET day,
    # half term is not school): not ten. Longer into November and it would be.
    rows2 = pupil("ACROSS", school_days(CAL, date(2025, 10, 22), date(2025, 11, 12)), "G")
    runs2 = unauthorised_runs(counts(rows2, date(2025, 11, 28)), first, last)
    assert [(r.pupil, r.days, CAL.school_days[r.first_day]) for r in runs2] == [
        ("ACROSS", 10, date(2025, 10, 22))
    ]


def test_illness_expected_by_hand() -> None:
    # As of Friday 28 November; the autumn term ends 19 December: 15 school days left.
    # LONG: ill 10 school days before (6-17 October) and the last 3 school days (26-28 Nov):
    # 13 days so far; the last 10 school days hold 3 ill days (6 of 20 sessions), so 15 days
    # left at that rate add 15 * 6 / 20 = 4.5 days: 17.5 expected, listed.
    # SHORT: ill 14 days earlier in the term, none lately: 14 expected, not listed.
    long_ill = school_days(CAL, date(2025, 10, 6), date(2025, 10, 17)) + school_days(
        CAL, date(2025, 11, 26), date(2025, 11, 28)
    )
    short_ill = school_days(CAL, date(2025, 9, 8), date(2025, 9, 25))
    assert len(long_ill) == 13 and len(short_ill) == 14
    rows = pupil("LONG", long_ill, "I") + pupil("SHORT", short_ill, "I")
    as_of = CAL.day_index(date(2025, 11, 28))
    data = counts(rows, date(2025, 11, 28))
    assert CAL.term_of(as_of).last - as_of == 15
    found = illness_expected(data, CAL.year_of(as_of).first, as_of, CAL.term_of(as_of).last)
    assert [(e.pupil, e.illness_days_so_far, e.illness_days_expected) for e in found] == [
        ("LONG", 13.0, 17.5)
    ]


def test_an_illness_rate_over_fewer_than_ten_possible_sessions_is_too_few_to_judge() -> None:
    # As of Thursday 4 September, the second school day: ill both days is 4 of 4 sessions, which
    # continued to 19 December "expects" the whole term; 4 possible sessions judge nothing.
    early = school_days(CAL, date(2025, 9, 3), date(2025, 9, 4))
    rows = pupil("EARLY", early, "I")
    as_of = CAL.day_index(date(2025, 9, 4))
    data = counts(rows, date(2025, 9, 4))
    (found,) = illness_expected(data, CAL.year_of(as_of).first, as_of, CAL.term_of(as_of).last)
    assert found.pupil == "EARLY" and found.illness_days_expected >= 15
    assert (found.recent_possible, found.judged) == (4, False)
    # LONG (above) is judged on the last 10 school days' 20 possible sessions
    long_ill = school_days(CAL, date(2025, 10, 6), date(2025, 10, 17)) + school_days(
        CAL, date(2025, 11, 26), date(2025, 11, 28)
    )
    late = CAL.day_index(date(2025, 11, 28))
    data = counts(pupil("LONG", long_ill, "I"), date(2025, 11, 28))
    (judged,) = illness_expected(data, CAL.year_of(late).first, late, CAL.term_of(late).last)
    assert (judged.recent_possible, judged.judged) == (20, True)


def test_pupils_sent_in_an_earlier_months_return_are_known_with_their_first_date() -> None:
    at = [datetime(2025, 10, 3, 9, tzinfo=UTC), datetime(2025, 11, 4, 9, tzinfo=UTC)]
    sent = [
        ("s", "2025-09", ("A", "B"), at[0]),
        ("s", "2025-10", ("A", "C"), at[1]),
        ("s", "2025-11", ("D",), at[1]),  # this month's own return is not "earlier"
    ]
    assert earlier_notifications(sent, "2025-11") == {"A": at[0], "B": at[0], "C": at[1]}
    assert earlier_notifications(sent, "2025-09") == {}
