"""The register grid as known at a time, roster bounds, and the day-by-day known-at timeline."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from escalation_flow.core.codes import CODE_OF_ID, ID_OF_CODE, code_id
from escalation_flow.core.marks import (
    UNKNOWN_RECORDED_AT,
    MarkTable,
    PupilRecord,
    Roster,
    to_micros,
)
from escalation_flow.core.packed_counts import Key
from escalation_flow.core.register import (
    AssumeRecordedAt,
    AssumeRecordedAtEndOfDay,
    day_end_micros,
    last_of_sorted_cells,
    latest_per_cell,
    register_as_known_at,
)
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.core.timeline import KnownAtTimeline
from escalation_flow.errors import CalendarError, NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from register_builders import bundled_calendar, mark_table

CAL = bundled_calendar("2025-26")
END_OF_DAY = AssumeRecordedAtEndOfDay()
MON = date(2025, 9, 8)


def at(d: date, hour: int) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def code_at(grid_codes: np.ndarray, pupil: int, d: date, session: str) -> str:
    return CODE_OF_ID[int(grid_codes[pupil, CAL.session_index(d, session)])]


def test_an_amendment_is_seen_only_from_when_it_was_recorded() -> None:
    """N on Monday, amended to I on Thursday: before Thursday the register still says N."""
    marks = mark_table(
        CAL,
        [
            ("P1", MON, "AM", "N", at(MON, 9)),
            ("P1", MON, "AM", "I", at(MON + timedelta(days=3), 10)),
        ],
    )
    before = register_as_known_at(
        marks, CAL, known_at=at(MON + timedelta(days=3), 9), unknown_recorded_at=END_OF_DAY
    )
    after = register_as_known_at(
        marks, CAL, known_at=at(MON + timedelta(days=3), 11), unknown_recorded_at=END_OF_DAY
    )
    everything = register_as_known_at(marks, CAL, known_at=None, unknown_recorded_at=END_OF_DAY)
    earlier = register_as_known_at(marks, CAL, known_at=at(MON, 8), unknown_recorded_at=END_OF_DAY)
    assert code_at(before.codes, 0, MON, "AM") == "N"
    assert code_at(after.codes, 0, MON, "AM") == "I"
    assert code_at(everything.codes, 0, MON, "AM") == "I"
    assert code_at(earlier.codes, 0, MON, "AM") == "-"


def test_rows_recorded_at_the_same_instant_the_later_row_wins() -> None:
    t = at(MON, 9)
    marks = mark_table(CAL, [("P1", MON, "AM", "N", t), ("P1", MON, "AM", "O", t)])
    grid = register_as_known_at(marks, CAL, known_at=None, unknown_recorded_at=END_OF_DAY)
    assert code_at(grid.codes, 0, MON, "AM") == "O"


def test_a_later_recorded_at_wins_even_when_its_row_comes_first() -> None:
    marks = mark_table(
        CAL, [("P1", MON, "PM", "I", at(MON, 15)), ("P1", MON, "PM", "N", at(MON, 14))]
    )
    grid = register_as_known_at(marks, CAL, known_at=None, unknown_recorded_at=END_OF_DAY)
    assert code_at(grid.codes, 0, MON, "PM") == "I"


@pytest.mark.parametrize(
    ("policy", "known_at", "expected"),
    [
        # Monday ends at 23:00 UTC (midnight in London, summer time).
        (END_OF_DAY, at(MON, 22), "-"),
        (END_OF_DAY, at(MON, 23), "/"),
        (AssumeRecordedAt(datetime(2026, 8, 1, tzinfo=UTC)), at(MON, 23), "-"),
        (AssumeRecordedAt(datetime(2026, 8, 1, tzinfo=UTC)), datetime(2026, 8, 1, tzinfo=UTC), "/"),
    ],
)
def test_a_mark_without_recorded_at_is_known_from_the_time_the_caller_chose(
    policy: AssumeRecordedAt | AssumeRecordedAtEndOfDay, known_at: datetime, expected: str
) -> None:
    marks = mark_table(CAL, [("P1", MON, "AM", "/", None)])
    grid = register_as_known_at(marks, CAL, known_at=known_at, unknown_recorded_at=policy)
    assert code_at(grid.codes, 0, MON, "AM") == expected


def test_the_end_of_a_school_day_follows_the_clock_change() -> None:
    ends = day_end_micros(CAL)
    in_summer_time = CAL.day_index(date(2025, 10, 23))
    in_winter_time = CAL.day_index(date(2025, 11, 3))
    assert ends[in_summer_time] == to_micros(datetime(2025, 10, 23, 23, tzinfo=UTC)) - 1
    assert ends[in_winter_time] == to_micros(datetime(2025, 11, 4, 0, tzinfo=UTC)) - 1


def test_the_roster_bounds_possible_sessions_and_adds_pupils_without_marks() -> None:
    marks = mark_table(CAL, [("P1", MON, "AM", "/", None)])
    roster = Roster(
        "oaks",
        {
            "P1": PupilRecord("oaks", "P1", admitted=date(2025, 9, 6), left=date(2025, 12, 20)),
            "P2": PupilRecord("oaks", "P2"),
        },
    )
    grid = register_as_known_at(
        marks, CAL, known_at=None, unknown_recorded_at=END_OF_DAY, roster=roster
    )
    assert grid.pupils == ("P1", "P2")
    # Admitted on a Saturday: the first possible session is Monday's AM.
    assert grid.enrolment.first_session[0] == CAL.session_index(MON, "AM")
    # Left in the holiday: the last possible session is the last day of term's PM.
    assert grid.enrolment.last_session[0] == CAL.session_index(date(2025, 12, 19), "PM")
    assert grid.enrolment.first_session[1] == 0
    assert grid.enrolment.last_session[1] == CAL.n_sessions - 1
    with pytest.raises(NotFoundError, match="P9"):
        grid.pupil_index("P9")


def test_marks_outside_the_calendar_are_refused() -> None:
    marks = MarkTable(
        "oaks",
        ("P1",),
        np.zeros(1, np.int32),
        np.array([CAL.n_sessions], np.int32),
        np.array([code_id("/")], np.int8),
        np.zeros(1, np.int64),
        np.full(1, -1, np.int16),
    )
    with pytest.raises(CalendarError, match="outside calendar"):
        register_as_known_at(marks, CAL, known_at=None, unknown_recorded_at=END_OF_DAY)


# -- the known-at timeline ----------------------------------------------------------------------


def test_the_timeline_reports_pupils_whose_past_marks_changed() -> None:
    thu = MON + timedelta(days=3)
    marks = mark_table(
        CAL,
        [
            ("P1", MON, "AM", "N", at(MON, 9)),
            ("P1", thu, "AM", "/", at(thu, 9)),
            ("P1", MON, "AM", "I", at(thu, 10)),  # the amendment, known at the end of Thursday
            ("P2", MON, "AM", "/", at(MON, 9)),
            ("P2", thu, "PM", "L", at(thu, 14)),  # today's mark: not an amendment of the past
        ],
    )
    timeline = KnownAtTimeline(marks, CAL, unknown_recorded_at=END_OF_DAY)
    timeline.advance_to(CAL.day_index(MON))
    assert code_at(timeline.grid.codes, 0, MON, "AM") == "N"
    wednesday = timeline.advance_to(CAL.day_index(thu) - 1)
    assert wednesday.amended_pupils.tolist() == []
    thursday = timeline.advance()
    assert code_at(timeline.grid.codes, 0, MON, "AM") == "I"
    assert thursday.amended_pupils.tolist() == [0]
    assert thursday.rows_applied == 3
    assert thursday.known_at == datetime(2025, 9, 11, 23, tzinfo=UTC) - timedelta(microseconds=1)


def test_the_timeline_cannot_go_back_or_beyond_the_calendar() -> None:
    timeline = KnownAtTimeline(mark_table(CAL, []), CAL, unknown_recorded_at=END_OF_DAY)
    timeline.advance_to(3)
    with pytest.raises(CalendarError):
        timeline.advance_to(3)
    with pytest.raises(CalendarError):
        timeline.advance_to(CAL.n_days)


def random_marks(rng: np.random.Generator, n_pupils: int, n_rows: int) -> MarkTable:
    """Random marks recorded around their own day, some long after, some without a time."""
    pupil = rng.integers(0, n_pupils, n_rows).astype(np.int32)
    session = rng.integers(0, CAL.n_sessions, n_rows).astype(np.int32)
    day_start = np.array(
        [to_micros(datetime.combine(d, datetime.min.time(), UTC)) for d in CAL.school_days]
    )
    recorded = day_start[session // 2] + rng.integers(-3, 20, n_rows) * 86_400_000_000 // 2
    recorded[rng.random(n_rows) < 0.05] = UNKNOWN_RECORDED_AT
    # Every seventh row repeats the cell and instant of the row before: the later row must win.
    for column in (pupil, session, recorded):
        column[1::7] = column[0:-1:7]
    return MarkTable(
        "oaks",
        tuple(f"P{i}" for i in range(n_pupils)),
        pupil,
        session,
        rng.integers(0, len(ID_OF_CODE) + 1, n_rows).astype(np.int8),
        recorded,
        np.full(n_rows, -1, np.int16),
    )


@pytest.mark.parametrize("seed", range(4))
def test_each_timeline_day_equals_the_register_as_known_at_that_day_end(seed: int) -> None:
    rng = np.random.default_rng(seed)
    marks = random_marks(rng, n_pupils=6, n_rows=900)
    roster = Roster("oaks", {"P1": PupilRecord("oaks", "P1", admitted=date(2025, 10, 1))})
    timeline = KnownAtTimeline(marks, CAL, unknown_recorded_at=END_OF_DAY, roster=roster)
    ends = day_end_micros(CAL)
    previous = np.zeros_like(timeline.grid.codes)
    days = sorted(set(rng.integers(0, CAL.n_days, 25).tolist()))
    for day in days:
        step = timeline.advance_to(day)
        known_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(ends[day]))
        expected = register_as_known_at(
            marks, CAL, known_at=known_at, unknown_recorded_at=END_OF_DAY, roster=roster
        )
        np.testing.assert_array_equal(timeline.grid.codes, expected.codes)
        changed = (previous != expected.codes)[:, : 2 * day].any(axis=1)
        assert step.amended_pupils.tolist() == np.flatnonzero(changed).tolist()
        fresh = CumulativeCounts(expected, CAL, through_day=day)
        for first in (0, 1, 2 * max(0, day - 7) + 1):
            got = timeline.counts.counts_between(first, 2 * day)
            want = fresh.counts_between(first, 2 * day)
            np.testing.assert_array_equal(got.possible, want.possible)
            np.testing.assert_array_equal(got.unauthorised, want.unauthorised)
        np.testing.assert_array_equal(
            timeline.counts.first_session_with(Key.N, 2 * day + 1),
            fresh.first_session_with(Key.N, 2 * day + 1),
        )
        previous = expected.codes.copy()


@pytest.mark.parametrize("seed", range(40))
def test_rows_in_cell_and_recorded_order_give_the_latest_per_cell_without_a_sort(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    cell = rng.integers(0, 40, n).astype(np.int64)
    recorded = rng.integers(0, 5, n).astype(np.int64)  # ties: the later row wins
    order = np.lexsort((recorded, cell))
    cell, recorded = cell[order], recorded[order]
    rows = np.arange(n, dtype=np.intp)
    if seed % 2:  # a known-at cut leaves some rows out, the others still in order
        rows = rows[recorded[rows] <= 3]
    fast = last_of_sorted_cells(cell, recorded, rows)
    assert fast is not None
    assert fast.tolist() == latest_per_cell(cell, recorded, rows, 40).tolist()
    if n > 1 and len(set(cell.tolist())) > 1:  # out of order: left to the general way
        assert last_of_sorted_cells(cell[::-1].copy(), recorded[::-1].copy(), np.arange(n)) is None
