"""Register facts, hand-counted on the bundled calendars, then checked against a plain loop."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID, ID_OF_CODE
from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.facts import (
    KnownFacts,
    facts_as_of,
    facts_for_all_days,
    facts_from_counts,
)
from escalation_flow.core.marks import PupilRecord, Roster
from escalation_flow.core.packed_counts import Key
from escalation_flow.core.register import (
    AssumeRecordedAtEndOfDay,
    RegisterGrid,
    enrolment_of,
    register_as_known_at,
)
from escalation_flow.core.school_age import compulsory_school_age_span
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.errors import CalendarError, NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference_facts import reference_facts
from register_builders import Row, bundled_calendar, mark_table, school_days, whole_days
from simple_facts import simple_facts

CAL = bundled_calendar("2025-26")
END_OF_DAY = AssumeRecordedAtEndOfDay()


def facts(
    rows: Sequence[Row],
    as_of: date,
    *,
    calendar: SchoolCalendar = CAL,
    known_at: datetime | None = None,
    roster: Roster | None = None,
    min_ytd: int = 1,
    pupil: str = "P1",
) -> dict[str, float]:
    grid = register_as_known_at(
        mark_table(calendar, rows),
        calendar,
        known_at=known_at,
        unknown_recorded_at=END_OF_DAY,
        roster=roster,
    )
    table = facts_as_of(
        grid, calendar, calendar.day_index(as_of), min_possible_sessions_ytd=min_ytd
    )
    return table.row(pupil)


def present(first: date, last: date, calendar: SchoolCalendar = CAL) -> list[Row]:
    return whole_days(calendar, "P1", school_days(calendar, first, last), "/")


def mark(d: date, session: str, code: str, recorded_at: datetime | None = None) -> Row:
    return ("P1", d, session, code, recorded_at)


def replace(rows: list[Row], *changes: Row) -> list[Row]:
    """``rows`` with the marks of the same sessions swapped for ``changes``."""
    keys = {(r[1], r[2]) for r in changes}
    return [r for r in rows if (r[1], r[2]) not in keys] + list(changes)


def test_every_catalogued_fact_is_computed() -> None:
    f = facts(present(date(2025, 9, 3), date(2025, 9, 5)), date(2025, 9, 5))
    assert list(f) == list(REGISTER_FACTS)


def test_an_n_amended_to_i_is_unauthorised_before_and_illness_after() -> None:
    mon, thu, fri = date(2025, 9, 8), date(2025, 9, 11), date(2025, 9, 12)
    amended = datetime(2025, 9, 11, 10, tzinfo=UTC)
    # Each register taken at 08:00 UTC on its day.
    taken = [
        (*r[:4], datetime.combine(r[1], datetime.min.time(), UTC) + timedelta(hours=8))
        for r in present(date(2025, 9, 3), fri)
    ]
    rows = [
        *replace(taken, mark(mon, "AM", "N", taken[6][4]), mark(mon, "PM", "N", taken[6][4])),
        mark(mon, "AM", "I", amended),
        mark(mon, "PM", "I", amended),
    ]
    before = facts(rows, fri, known_at=datetime(2025, 9, 11, 9, tzinfo=UTC))
    after = facts(rows, fri, known_at=datetime(2025, 9, 12, 20, tzinfo=UTC))
    assert (before["unresolved_n_sessions"], after["unresolved_n_sessions"]) == (2, 0)
    assert before["oldest_unresolved_n_school_days"] == 4  # Monday, as of Friday
    assert after["oldest_unresolved_n_school_days"] == 0
    assert before["unauthorised_absence_sessions"] == 2
    assert after["unauthorised_absence_sessions"] == 0
    assert (before["authorised_absence_sessions"], after["authorised_absence_sessions"]) == (0, 2)
    assert (before["illness_sessions_this_term"], after["illness_sessions_this_term"]) == (0, 2)
    # Friday's register was not taken yet at 09:00 on Thursday: its sessions are unmarked.
    assert (before["possible_sessions"], before["unmarked_sessions"]) == (14, 2)
    assert before["attendance_pct"] == pytest.approx(100 * 12 / 14)
    assert (after["possible_sessions"], after["attendance_pct"]) == (16, 87.5)
    assert facts(rows, thu)["unauthorised_absence_sessions"] == 0  # everything in the file


def test_the_10_school_week_window_spans_the_christmas_break() -> None:
    """Weeks back from 12-16 Jan 2026: 6-9 Jan, 15-19 Dec, ... 3-7 Nov, then 20-23 Oct (the
    half-term break has no sessions, so it is not a school week)."""
    rows = present(date(2025, 9, 3), date(2026, 1, 16))
    rows = replace(
        rows,
        mark(date(2025, 10, 17), "AM", "G"),  # the 11th school week back: outside
        mark(date(2025, 10, 20), "AM", "G"),  # the 10th: inside
        mark(date(2025, 12, 19), "PM", "N"),
        mark(date(2026, 1, 16), "AM", "U"),
    )
    f = facts(rows, date(2026, 1, 16))
    assert f["unauthorised_sessions_last_10_school_weeks"] == 3
    assert f["unauthorised_sessions_last_6_school_weeks"] == 2
    assert f["unauthorised_absence_sessions"] == 4
    assert f["unauthorised_sessions_this_term"] == 1
    assert f["holiday_sessions_this_year"] == 2


def test_the_10_school_week_window_spans_the_summer_into_the_next_year() -> None:
    """Weeks back from 7-11 Sep 2026: 2-4 Sep, 21 Jul (20 Jul is INSET), ... back to 1-5 Jun."""
    both = bundled_calendar("2025-26", "2026-27")
    rows = present(date(2026, 5, 18), date(2026, 9, 11), both)
    rows = replace(
        rows,
        mark(date(2026, 5, 22), "AM", "O"),  # before the summer half-term break: outside
        mark(date(2026, 6, 1), "AM", "O"),
        mark(date(2026, 7, 21), "PM", "O"),
        mark(date(2026, 9, 2), "AM", "O"),
    )
    f = facts(rows, date(2026, 9, 11), calendar=both)
    assert f["unauthorised_sessions_last_10_school_weeks"] == 3
    # Year to date is the new academic year only: 8 school days from Wed 2 September.
    assert f["possible_sessions"] == 16
    assert f["attended_sessions"] == 15
    assert f["attendance_pct_last_2_school_weeks"] == pytest.approx(100 * 15 / 16)
    # Four school weeks: 7-11 Sep, 2-4 Sep, 21 Jul alone, 13-17 Jul: 28 sessions, 2 absent.
    assert f["attendance_pct_last_4_school_weeks"] == pytest.approx(100 * 26 / 28)


def test_half_term_lates_reset_after_the_half_term_break() -> None:
    rows = replace(
        present(date(2025, 9, 3), date(2025, 11, 4)),
        mark(date(2025, 10, 20), "AM", "L"),
        mark(date(2025, 10, 23), "PM", "U"),
        mark(date(2025, 11, 3), "AM", "L"),
    )
    before_break = facts(rows, date(2025, 10, 23))
    after_break = facts(rows, date(2025, 11, 4))
    assert before_break["late_sessions_this_half_term"] == 2
    assert before_break["late_before_close_sessions_this_half_term"] == 1
    assert before_break["late_after_close_sessions_this_half_term"] == 1
    assert after_break["late_sessions_this_half_term"] == 1
    assert after_break["late_after_close_sessions_this_half_term"] == 0
    # Four school weeks back from 3-4 Nov: 20-23 Oct, 13-17 Oct, 6-10 Oct.
    assert after_break["late_sessions_last_4_school_weeks"] == 3


def test_sessions_before_admission_and_after_leaving_are_not_possible() -> None:
    rows = replace(
        present(date(2025, 12, 15), date(2026, 1, 9)),  # marks from before admission too
        mark(date(2026, 1, 9), "PM", "N"),
    )
    admitted = Roster("oaks", {"P1": PupilRecord("oaks", "P1", admitted=date(2026, 1, 6))})
    f = facts(rows, date(2026, 1, 9), roster=admitted)
    assert (f["possible_sessions"], f["attended_sessions"], f["unmarked_sessions"]) == (8, 7, 0)
    assert f["attendance_pct"] == 87.5
    assert f["friday_absence_share"] == 1.0
    assert f["monday_absence_share"] == 0.0
    left = Roster(
        "oaks",
        {"P1": PupilRecord("oaks", "P1", admitted=date(2026, 1, 6), left=date(2026, 1, 8))},
    )
    g = facts(rows, date(2026, 1, 9), roster=left)
    assert (g["possible_sessions"], g["unresolved_n_sessions"], g["absent_today"]) == (6, 0, 0)


def test_a_pupil_admitted_without_marks_has_only_unmarked_sessions() -> None:
    roster = Roster("oaks", {"P2": PupilRecord("oaks", "P2", admitted=date(2025, 9, 8))})
    f = facts(
        present(date(2025, 9, 3), date(2025, 9, 9)), date(2025, 9, 9), roster=roster, pupil="P2"
    )
    assert (f["possible_sessions"], f["unmarked_sessions"]) == (0, 4)
    assert math.isnan(f["attendance_pct"])


def test_not_possible_codes_are_left_out_of_the_denominator() -> None:
    rows = [
        *present(date(2025, 9, 3), date(2025, 9, 5)),
        *whole_days(CAL, "P1", [date(2025, 9, 8)], "D"),
        *whole_days(CAL, "P1", [date(2025, 9, 9)], "Y1", "#"),
        *whole_days(CAL, "P1", [date(2025, 9, 10)], "X", "Q"),
        *whole_days(CAL, "P1", [date(2025, 9, 11)], "Z", "Y7"),
        *whole_days(CAL, "P1", [date(2025, 9, 12)], "/"),
    ]
    f = facts(rows, date(2025, 9, 12))
    assert (f["possible_sessions"], f["attended_sessions"], f["attendance_pct"]) == (8, 8, 100.0)
    assert f["absence_sessions"] == 0


def test_unmarked_sessions_are_counted_apart_never_present_nor_absent() -> None:
    rows = [*present(date(2025, 9, 3), date(2025, 9, 5)), mark(date(2025, 9, 12), "AM", "N")]
    f = facts(rows, date(2025, 9, 12))
    assert f["unmarked_sessions"] == 9
    assert (f["possible_sessions"], f["attended_sessions"], f["absence_sessions"]) == (7, 6, 1)


@pytest.mark.parametrize(
    ("attended", "pct", "persistent", "severe"),
    [(19, 95.0, 0, 0), (18, 90.0, 1, 0), (11, 55.0, 1, 0), (10, 50.0, 1, 1), (9, 45.0, 1, 1)],
)
def test_persistent_and_severe_absence_include_their_boundaries(
    attended: int, pct: float, persistent: int, severe: int
) -> None:
    days = school_days(CAL, date(2025, 9, 3), date(2025, 9, 16))  # 10 days, 20 sessions
    rows = [r for r in whole_days(CAL, "P1", days, "/")]
    absent = [mark(r[1], r[2], "I") for r in rows[: 20 - attended]]
    f = facts(replace(rows, *absent), date(2025, 9, 16), min_ytd=20)
    assert (f["attendance_pct"], f["persistent_absence"], f["severe_absence"]) == (
        pct,
        persistent,
        severe,
    )


def test_percentages_are_unknown_below_their_minimum_of_possible_sessions() -> None:
    rows = present(date(2025, 9, 3), date(2025, 9, 16))  # 20 possible sessions
    short = facts(rows, date(2025, 9, 16), min_ytd=21)
    enough = facts(rows, date(2025, 9, 16), min_ytd=20)
    assert math.isnan(short["attendance_pct"]) and math.isnan(short["persistent_absence"])
    assert enough["attendance_pct"] == 100.0 and enough["persistent_absence"] == 0
    # Windows need 10: two school weeks are 6 sessions on Fri 5 Sep and 12 on Wed 10 Sep.
    assert math.isnan(facts(rows, date(2025, 9, 5))["attendance_pct_last_2_school_weeks"])
    assert facts(rows, date(2025, 9, 10))["attendance_pct_last_2_school_weeks"] == 100.0
    # Before four earlier school weeks exist, the trend is unknown too.
    assert math.isnan(facts(rows, date(2025, 9, 16))["attendance_trend"])


def test_known_facts_count_as_the_flow_version_asked_for_and_each_day_once() -> None:
    """A case on an earlier flow version is decided on that version's minimum of sessions,
    whatever the school's current flow says: the minimum is asked for, not looked up."""
    rows = present(date(2025, 9, 3), date(2025, 9, 16))  # 20 possible sessions
    grid = register_as_known_at(
        mark_table(CAL, rows), CAL, known_at=None, unknown_recorded_at=END_OF_DAY
    )
    day = CAL.day_index(date(2025, 9, 16))
    known = KnownFacts(CumulativeCounts(grid, CAL, through_day=day))
    older, current = known.at(day, 20), known.at(day, 21)
    assert older.row("P1")["attendance_pct"] == 100.0
    assert math.isnan(current.row("P1")["attendance_pct"])
    assert known.at(day, 20) is older  # computed once
    assert known.at(-1, 20).day_index == 0  # before the first day: the first day's
    same = facts_as_of(grid, CAL, day, min_possible_sessions_ytd=20)
    assert all(np.array_equal(same.values[n], older.values[n], equal_nan=True) for n in same.values)


def test_the_oldest_unresolved_n_is_counted_in_school_days() -> None:
    rows = replace(
        present(date(2025, 9, 3), date(2025, 9, 12)),
        mark(date(2025, 9, 4), "AM", "N"),
        mark(date(2025, 9, 9), "PM", "N"),
    )
    f = facts(rows, date(2025, 9, 12))
    assert (f["unresolved_n_sessions"], f["oldest_unresolved_n_school_days"]) == (2, 6)
    g = facts(replace(rows, mark(date(2025, 9, 4), "AM", "I")), date(2025, 9, 12))
    assert (g["unresolved_n_sessions"], g["oldest_unresolved_n_school_days"]) == (1, 3)
    assert facts(rows, date(2025, 9, 9))["unexplained_absence_today"] == 1


@pytest.mark.parametrize(
    ("changes", "as_of", "run"),
    [
        ((("2025-09-08", "N", "N"), ("2025-09-09", "O", "G"), ("2025-09-10", "N", "N")), 10, 3),
        ((("2025-09-08", "N", "\\"), ("2025-09-09", "N", "N"), ("2025-09-10", "U", "N")), 10, 2),
        ((("2025-09-09", "N", "N"), ("2025-09-10", "N", "N")), 11, 0),
        ((("2025-09-05", "N", "N"), ("2025-09-08", "N", "N")), 8, 2),  # across a weekend
    ],
)
def test_consecutive_unauthorised_school_days(
    changes: tuple[tuple[str, str, str], ...], as_of: int, run: int
) -> None:
    rows = present(date(2025, 9, 3), date(2025, 9, 12))
    for d, am, pm in changes:
        day = date.fromisoformat(d)
        rows = replace(rows, mark(day, "AM", am), mark(day, "PM", pm))
    f = facts(rows, date(2025, 9, as_of))
    assert f["consecutive_unauthorised_school_days"] == run


def test_absence_shares_by_weekday() -> None:
    rows = replace(
        present(date(2025, 9, 3), date(2025, 9, 12)),
        mark(date(2025, 9, 8), "AM", "I"),
        mark(date(2025, 9, 10), "PM", "O"),
        mark(date(2025, 9, 12), "AM", "N"),
        mark(date(2025, 9, 12), "PM", "N"),
    )
    f = facts(rows, date(2025, 9, 12))
    assert (f["monday_absence_share"], f["friday_absence_share"]) == (0.25, 0.5)
    assert f["monday_friday_absence_share"] == 0.75
    assert f["absent_today"] == 1
    assert math.isnan(facts(rows, date(2025, 9, 5))["monday_absence_share"])


def test_compulsory_school_age_follows_the_date_of_birth() -> None:
    born = date(2020, 12, 10)  # five on 10 Dec 2025: of compulsory school age from January
    roster = Roster("oaks", {"P1": PupilRecord("oaks", "P1", date_of_birth=born)})
    rows = present(date(2025, 12, 15), date(2026, 1, 9))
    assert facts(rows, date(2025, 12, 19), roster=roster)["compulsory_school_age"] == 0
    assert facts(rows, date(2026, 1, 6), roster=roster)["compulsory_school_age"] == 1
    assert facts(rows, date(2026, 1, 6))["compulsory_school_age"] == 1  # no roster: unknown


def test_asking_for_a_day_outside_the_calendar_or_an_unknown_pupil_is_an_error() -> None:
    grid = register_as_known_at(
        mark_table(CAL, present(date(2025, 9, 3), date(2025, 9, 5))),
        CAL,
        known_at=None,
        unknown_recorded_at=END_OF_DAY,
    )
    with pytest.raises(CalendarError):
        facts_as_of(grid, CAL, CAL.n_days, min_possible_sessions_ytd=1)
    table = facts_as_of(grid, CAL, 2, min_possible_sessions_ytd=1)
    with pytest.raises(NotFoundError, match="P9"):
        table.row("P9")


# -- windows with a start per pupil -------------------------------------------------------------


def random_grid(
    rng: np.random.Generator, n_pupils: int, calendar: SchoolCalendar = CAL, bounded: bool = True
) -> RegisterGrid:
    codes = rng.integers(0, len(CODE_OF_ID), (n_pupils, calendar.n_sessions)).astype(np.int8)
    # Mostly present, so that runs and percentages look like a school's.
    codes[rng.random(codes.shape) < 0.5] = 1
    pupils = tuple(f"P{i}" for i in range(n_pupils))
    records = {}
    if bounded:
        for i, p in enumerate(pupils[: n_pupils // 2]):
            admitted = calendar.school_days[int(rng.integers(0, calendar.n_days))]
            left = calendar.school_days[int(rng.integers(0, calendar.n_days))] if i % 2 else None
            born = date(2010 + int(rng.integers(0, 12)), int(rng.integers(1, 13)), 15)
            records[p] = PupilRecord("oaks", p, date_of_birth=born, admitted=admitted, left=left)
    enrolment = enrolment_of(pupils, calendar, Roster("oaks", records))
    return RegisterGrid("oaks", pupils, codes, enrolment)


def test_counts_between_takes_a_start_per_pupil_and_half_days() -> None:
    rng = np.random.default_rng(7)
    grid = random_grid(rng, 40)
    counts = CumulativeCounts(grid, CAL, through_day=60)
    first = rng.integers(0, 130, grid.n_pupils)
    for last in (0, 57, 120, 121):
        window = counts.counts_between(first, last)
        for p in range(grid.n_pupils):
            lo = max(int(first[p]), int(grid.enrolment.first_session[p]))
            hi = min(last, int(grid.enrolment.last_session[p]))
            codes = [CODE_OF_ID[c] for c in grid.codes[p, lo : hi + 1]] if hi >= lo else []
            assert window.late[p] == sum(c in ("L", "U") for c in codes)
            assert window.unmarked[p] == codes.count("-")
            assert window.possible[p] == sum(
                c not in ("-", "D", "Q", "X", "Z", "#") and not c.startswith("Y") for c in codes
            )
    with pytest.raises(ValueError, match="not counted yet"):
        counts.counts_between(0, 122)


def test_one_pupils_attendance_in_plain_python_equals_the_arrays() -> None:
    rng = np.random.default_rng(3)
    grid = random_grid(rng, 30)  # half of them admitted or leaving within the year
    counts = CumulativeCounts(grid, CAL, through_day=90)
    for p in range(grid.n_pupils):
        for first, last in ((0, 181), (1, 180), (57, 120), (121, 121), (150, 149), (-4, 33)):
            for minimum in (1, 10):
                window = counts.pupil_counts_between(p, first, last)
                want = float(window.attendance_pct(min_possible_sessions=minimum)[0])
                got = counts.pupil_attendance_pct(p, first, last, min_possible_sessions=minimum)
                assert got == want or (math.isnan(got) and math.isnan(want)), (p, first, last)


@pytest.mark.parametrize("key", list(Key))
def test_the_first_session_counting_for_a_key_is_found(key: Key) -> None:
    rng = np.random.default_rng(int(key))
    grid = random_grid(rng, 30)
    counts = CumulativeCounts(grid, CAL, through_day=120)
    for first, last in ((0, 241), (37, 100), (100, 101), (120, 240)):
        counted = [counts.counts_between(first, s).count(key) for s in range(first, last + 1)]
        # the pupils with such a session in first..last: where the first of them is
        with_one = np.flatnonzero(counted[-1] > 0)
        want = [next(first + i for i, c in enumerate(counted) if c[p]) for p in with_one]
        got = counts._search_first(key, with_one, first, last).tolist()
        if first == 0:
            assert got == want, (first, last)
        else:  # and those with one before ``first`` too: ``first`` (count(0..first) >= 1)
            before = counts.counts_between(0, first - 1).count(key)[with_one] > 0
            assert got == np.where(before, first, want).tolist(), (first, last)


def test_runs_of_unauthorised_days_of_every_length_are_counted() -> None:
    rng = np.random.default_rng(5)
    grid = random_grid(rng, 40, bounded=False)
    unauthorised = ID_OF_CODE["O"]
    # Runs ending on day 100, of 0 to 39 days (pupil i: i days), and the whole year for one.
    for i in range(grid.n_pupils):
        grid.codes[i, 2 * (101 - i) : 2 * 101] = unauthorised
        grid.codes[i, 2 * (100 - i) : 2 * (100 - i) + 2] = ID_OF_CODE["/"]
    grid.codes[39, : 2 * 101] = unauthorised
    counts = CumulativeCounts(grid, CAL, through_day=100)
    runs = counts.unauthorised_days_ending(100)
    assert runs.tolist() == [*range(39), 101]


# -- the vectorised facts against the plain loop -------------------------------------------------


def assert_same(got: dict[str, float], want: dict[str, float], where: str) -> None:
    for name, value in want.items():
        if math.isnan(value):
            assert math.isnan(got[name]), f"{where}: {name} = {got[name]}, expected unknown"
        else:
            assert got[name] == pytest.approx(value, abs=1e-9), f"{where}: {name}"


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_facts_match_the_plain_loop_on_random_registers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    calendar = bundled_calendar("2025-26", "2026-27") if seed == 0 else CAL
    grid = random_grid(rng, 12, calendar)
    days = sorted({0, calendar.n_days - 1, *rng.integers(0, calendar.n_days, 6).tolist()})
    for day in days:
        table = facts_as_of(grid, calendar, day, min_possible_sessions_ytd=15)
        for p, pupil in enumerate(grid.pupils):
            dob = grid.enrolment.school_age_from[p]
            record_span = (
                compulsory_school_age_span(None)
                if dob == np.iinfo(np.int64).min
                else (
                    date.fromordinal(int(dob)),
                    date.fromordinal(int(grid.enrolment.school_age_until[p])),
                )
            )
            want = reference_facts(
                grid.codes[p].tolist(),
                calendar,
                day,
                min_possible_sessions_ytd=15,
                first_session=int(grid.enrolment.first_session[p]),
                last_session=int(grid.enrolment.last_session[p]),
                school_age=record_span,
            )
            assert_same(table.row(pupil), want, f"day {day} pupil {pupil}")


def test_all_days_at_once_equal_each_day_alone() -> None:
    grid = random_grid(np.random.default_rng(11), 20)
    every = list(facts_for_all_days(grid, CAL, min_possible_sessions_ytd=10, first_day=30))
    assert [t.day_index for t in every] == list(range(30, CAL.n_days))
    for table in every[::17]:
        alone = facts_as_of(grid, CAL, table.day_index, min_possible_sessions_ytd=10)
        for name in REGISTER_FACTS:
            np.testing.assert_array_equal(table.values[name], alone.values[name], err_msg=name)


@pytest.mark.parametrize("years", [("2025-26",), ("2025-26", "2026-27")])
def test_every_days_facts_read_from_the_keys_rows_equal_the_packed_counts_bit_for_bit(
    years: tuple[str, ...],
) -> None:
    # ``facts_for_all_days`` gathers each day's counts from the keys' unpacked rows of two bytes;
    # a day asked of the counts (``facts_from_counts``) gathers them from the packed words.
    calendar = bundled_calendar(*years)
    grid = random_grid(np.random.default_rng(5 + len(years)), 40, calendar)
    counts = CumulativeCounts(grid, calendar)
    every = facts_for_all_days(grid, calendar, min_possible_sessions_ytd=20, first_day=3)
    for day, table in enumerate(every, start=3):
        want = facts_from_counts(counts, day, min_possible_sessions_ytd=20)
        assert list(table.values) == list(want.values)
        for name, values in table.values.items():
            assert values.tobytes() == want.values[name].tobytes(), (day, name)


def test_the_keys_rows_are_each_keys_running_count() -> None:
    grid = random_grid(np.random.default_rng(8), 25)
    counts = CumulativeCounts(grid, CAL, through_day=70)
    rows = counts.key_rows()
    assert rows is not None
    width = counts.through_day + 2
    pupils = np.arange(grid.n_pupils)
    for key in Key:
        for day in (0, 1, 35, 71):
            want = counts.running_count_at(key, pupils, np.full(grid.n_pupils, 2 * day))
            np.testing.assert_array_equal(rows[key * width + day], want, err_msg=f"{key} {day}")


@pytest.mark.parametrize("years", [("2025-26",), ("2025-26", "2026-27")])
@pytest.mark.parametrize("way", ["at once", "by window"])
def test_facts_either_way_equal_the_first_window_by_window_count_bit_for_bit(
    years: tuple[str, ...], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalation_flow.core import facts as facts_module

    # A school above the size counts window by window; at or below, every count at once.
    monkeypatch.setattr(facts_module, "BLOCK_PUPILS", 0 if way == "by window" else 10_000)
    calendar = bundled_calendar(*years)
    grid = random_grid(np.random.default_rng(len(years)), 60, calendar)
    fast = CumulativeCounts(grid, calendar)
    simple = CumulativeCounts(grid, calendar)  # its own: the runs of absence are kept per day
    for day in range(calendar.n_days):
        for ytd, window in ((0, 0), (20, 10), (45, 12)):
            got = facts_from_counts(
                fast, day, min_possible_sessions_ytd=ytd, min_possible_sessions_window=window
            )
            want = simple_facts(
                simple, day, min_possible_sessions_ytd=ytd, min_possible_sessions_window=window
            )
            assert list(got.values) == list(want)
            for name, values in want.items():
                # bytes, NaN's own included
                assert got.values[name].tobytes() == values.tobytes(), f"day {day}: {name}"


def absence_heavy_grid(
    rng: np.random.Generator, n_pupils: int, calendar: SchoolCalendar
) -> RegisterGrid:
    """``random_grid`` with half its pupils mostly absent: long runs of absence, with and without
    N and O days in them, and days of one N or O session."""
    grid = random_grid(rng, n_pupils, calendar)
    codes = np.array(
        [CODE_OF_ID.index(c) for c in ("N", "O", "I", "G", "U", "/", "-", "M")], np.int8
    )
    weights = [0.2, 0.1, 0.25, 0.1, 0.05, 0.15, 0.05, 0.1]
    half = n_pupils // 2
    grid.codes[half:] = rng.choice(codes, (n_pupils - half, calendar.n_sessions), p=weights)
    return grid


@pytest.mark.parametrize("years", [("2025-26",), ("2025-26", "2026-27")])
@pytest.mark.parametrize("way", ["at once", "by window"])
def test_one_days_facts_counted_for_that_day_alone_equal_the_first_count_bit_for_bit(
    years: tuple[str, ...], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalation_flow.core import facts as facts_module

    # ``facts_as_of`` counts its day's runs of absence off that day alone (``LastDayRuns``).
    monkeypatch.setattr(facts_module, "BLOCK_PUPILS", 0 if way == "by window" else 10_000)
    calendar = bundled_calendar(*years)
    grid = absence_heavy_grid(np.random.default_rng(5 + len(years)), 40, calendar)
    simple = CumulativeCounts(grid, calendar)
    for day in range(calendar.n_days):
        got = facts_as_of(
            grid, calendar, day, min_possible_sessions_ytd=20, min_possible_sessions_window=10
        )
        want = simple_facts(
            simple, day, min_possible_sessions_ytd=20, min_possible_sessions_window=10
        )
        assert list(got.values) == list(want)
        for name, values in want.items():
            assert got.values[name].tobytes() == values.tobytes(), f"day {day}: {name}"


def test_counts_with_the_last_days_runs_only_refuse_another_day_and_extending() -> None:
    grid = absence_heavy_grid(np.random.default_rng(3), 10, CAL)
    counts = CumulativeCounts(grid, CAL, through_day=50, runs_of_last_day_only=True)
    counts.episodes.current_run(50)
    with pytest.raises(ValueError, match="school day 50 only"):
        counts.episodes.current_run(49)
    with pytest.raises(ValueError, match="not extended"):
        counts.extend_to(CAL.n_days - 1)
    with pytest.raises(ValueError, match="counted once"):
        counts.refresh(np.array([1], dtype=np.intp))


def test_a_calendars_day_windows_are_worked_out_once_and_as_for_a_new_calendar() -> None:
    from escalation_flow.core.facts import DayWindows

    calendar = bundled_calendar("2025-26")
    kept = DayWindows.of(calendar)
    assert DayWindows.of(calendar) is kept
    fresh = DayWindows.of(bundled_calendar("2025-26"))  # another object: worked out again
    assert fresh is not kept
    for got, want in zip(kept.field_bounds, fresh.field_bounds, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(kept.weeks[10], fresh.weeks[10])


def test_timeline_facts_equal_facts_on_the_register_as_known_that_evening() -> None:
    from escalation_flow.core.timeline import KnownAtTimeline

    days = school_days(CAL, date(2025, 9, 3), date(2025, 10, 10))
    rows = whole_days(CAL, "P1", days, "/", recorded_at=None)
    rows += whole_days(CAL, "P2", days, "N", recorded_at=None)
    # P2's N of each day is explained three calendar days later as illness.
    rows += [
        (
            "P2",
            d,
            s,
            "I",
            datetime.combine(d, datetime.min.time(), UTC) + timedelta(days=3, hours=9),
        )
        for d in days[::2]
        for s in ("AM", "PM")
    ]
    marks = mark_table(CAL, rows)
    timeline = KnownAtTimeline(marks, CAL, unknown_recorded_at=END_OF_DAY)
    for step in timeline.steps(0, len(days) - 1):
        got = timeline.facts(min_possible_sessions_ytd=5)
        grid = register_as_known_at(
            marks, CAL, known_at=step.known_at, unknown_recorded_at=END_OF_DAY
        )
        want = facts_as_of(grid, CAL, step.day_index, min_possible_sessions_ytd=5)
        for name in REGISTER_FACTS:
            np.testing.assert_array_equal(got.values[name], want.values[name], err_msg=name)


def test_a_window_or_since_counter_has_the_unit_of_its_family() -> None:
    from escalation_flow.core.fact_names import Unit, fact_spec

    assert fact_spec("attendance_pct_last_15_school_days").unit is Unit.PERCENT  # type: ignore[union-attr]
    assert fact_spec("unauthorised_sessions_since_concern_call").unit is Unit.SESSIONS  # type: ignore[union-attr]
    assert fact_spec("attendance_pct").unit is Unit.PERCENT  # type: ignore[union-attr]
    assert fact_spec("concern_call_recorded") is None


@pytest.mark.parametrize("way", ["at once", "by window"])
def test_a_register_of_no_pupils_has_facts_of_no_pupils_every_day(
    way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalation_flow.core import facts as facts_module

    # A school whose registers are not in yet (run-day for the trust on its first day).
    monkeypatch.setattr(facts_module, "BLOCK_PUPILS", 0 if way == "by window" else 10_000)
    grid = register_as_known_at(
        mark_table(CAL, []), CAL, known_at=None, unknown_recorded_at=END_OF_DAY
    )
    assert grid.n_pupils == 0
    day = facts_as_of(grid, CAL, 40, min_possible_sessions_ytd=10)
    assert {name: day.values[name].shape for name in REGISTER_FACTS} == {
        name: (0,) for name in REGISTER_FACTS
    }
    every = list(facts_for_all_days(grid, CAL, min_possible_sessions_ytd=10, last_day=60))
    assert len(every) == 61
    assert all(t.values[name].size == 0 for t in every for name in REGISTER_FACTS)
