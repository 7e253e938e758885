"""The running counts and the runs of absence come out the same however they are filled: for
every pupil at once (a school's first count), one day at a time (the daemon, the timeline) or
for a few pupils recounted (marks changed); on a one-year calendar (one byte a cell for the
runs) and a two-year one (two bytes)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID, ID_OF_CODE
from escalation_flow.core.marks import PupilRecord, Roster
from escalation_flow.core.packed_counts import N_IDS, PAIRS, Key, day_classes, day_pairs
from escalation_flow.core.register import RegisterGrid, enrolment_of
from escalation_flow.core.session_counts import CumulativeCounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from register_builders import bundled_calendar

ONE_YEAR = bundled_calendar("2025-26")
TWO_YEARS = bundled_calendar("2025-26", "2026-27")


def _grid(calendar: SchoolCalendar, n: int, seed: int) -> RegisterGrid:
    """Mostly present, with runs of absent days (N, O, I, G) and pupils admitted, leaving and
    of every age."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(CODE_OF_ID), (n, calendar.n_sessions)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.5] = ID_OF_CODE["/"]
    for _ in range(4 * n):
        p, d, length = rng.integers(n), rng.integers(calendar.n_days), rng.integers(1, 15)
        code = ID_OF_CODE[str(rng.choice(["N", "O", "I", "G"]))]
        codes[p, 2 * d : 2 * (d + length)] = code
    pupils = tuple(f"P{i}" for i in range(n))
    days = calendar.school_days
    records = {
        p: PupilRecord(
            "s",
            p,
            date_of_birth=date(2012 + i % 9, 1 + i % 12, 1 + i % 28),
            admitted=days[int(rng.integers(calendar.n_days))] if i % 4 == 1 else None,
            left=days[int(rng.integers(calendar.n_days))] if i % 4 == 2 else None,
        )
        for i, p in enumerate(pupils)
    }
    enrolment = enrolment_of(pupils, calendar, Roster("s", records))
    return RegisterGrid("s", pupils, codes, enrolment)


def _tables(counts: CumulativeCounts, through: int) -> dict[str, np.ndarray]:
    runs = counts.episodes
    return {
        "running": np.stack([counts.running(2 * d) for d in range(through + 2)]),
        "absence_run": runs.absence_run[: through + 1].copy(),
        "unexplained_run": runs.unexplained_run[: through + 1].copy(),
        "since_unexplained": runs.since_unexplained[: through + 1].copy(),
        "starts": runs.starts[: through + 2].copy(),
        "first_n": counts.first_session_with(Key.N, 2 * through + 1),
    }


def _plainly_counted(grid: RegisterGrid, calendar: SchoolCalendar, through: int) -> np.ndarray:
    """``running`` pupil by pupil and day by day, from the day lookup table."""
    counts = CumulativeCounts(grid, calendar, through_day=-1)
    packing, classes = counts.packing, day_classes(calendar)
    enrolment = grid.enrolment
    out = np.zeros((through + 2, packing.words, grid.n_pupils), np.uint64)
    for p in range(grid.n_pupils):
        total = np.zeros(packing.words, np.uint64)
        for d in range(through + 1):
            am, pm = (
                int(grid.codes[p, s])
                if enrolment.first_session[p] <= s <= enrolment.last_session[p]
                else N_IDS - 1
                for s in (2 * d, 2 * d + 1)
            )
            total = total + packing.day[:, (int(classes[d]) * N_IDS + am) * N_IDS + pm]
            out[d + 1, :, p] = total
    return out


def _plain_runs(grid: RegisterGrid, calendar: SchoolCalendar) -> dict[str, np.ndarray]:
    """The runs of absence pupil by pupil and day by day, as ``core.episodes`` defines them."""
    absent = {"C", "C1", "C2", "E", "I", "J1", "M", "R", "S", "T", "G", "N", "O", "U"}
    enrolment = grid.enrolment
    shape = (calendar.n_days, grid.n_pupils)
    out = {name: np.zeros(shape, np.int64) for name in ("absence_run", "unexplained_run")}
    out["since_unexplained"] = np.zeros(shape, np.int64)
    out["starts"] = np.zeros((calendar.n_days + 1, grid.n_pupils), np.int64)
    for p in range(grid.n_pupils):
        run = unexplained = since = starts = 0
        for d in range(calendar.n_days):
            codes = [
                CODE_OF_ID[grid.codes[p, s]]
                if enrolment.first_session[p] <= s <= enrolment.last_session[p]
                else None
                for s in (2 * d, 2 * d + 1)
            ]
            is_absent = all(c in absent for c in codes)
            n_or_o = [c in ("N", "O") for c in codes]
            starts += is_absent and run == 0
            run = run + 1 if is_absent else 0
            unexplained = unexplained + 1 if all(n_or_o) else 0
            since = (since + 1 if since else int(any(n_or_o))) if is_absent else 0
            out["absence_run"][d, p], out["unexplained_run"][d, p] = run, unexplained
            out["since_unexplained"][d, p], out["starts"][d + 1, p] = since, starts
    return out


@pytest.mark.parametrize("calendar", [ONE_YEAR, TWO_YEARS], ids=["one year", "two years"])
def test_counts_for_every_pupil_at_once_equal_those_counted_day_by_day_and_recounted(
    calendar: SchoolCalendar,
) -> None:
    grid = _grid(calendar, 60, seed=calendar.n_days)
    through = calendar.n_days - 1
    at_once = CumulativeCounts(grid, calendar, through_day=through)
    expected = _tables(at_once, through)
    assert np.array_equal(expected["running"], _plainly_counted(grid, calendar, through))
    for name, runs in _plain_runs(grid, calendar).items():
        assert np.array_equal(expected[name], runs), name

    day_by_day = CumulativeCounts(grid, calendar, through_day=-1)
    for day in range(calendar.n_days):
        day_by_day.extend_to(day)
    recounted = CumulativeCounts(grid, calendar, through_day=through)
    rng = np.random.default_rng(5)
    for from_day in (0, 1, calendar.n_days // 3, through):
        some = np.unique(rng.integers(0, grid.n_pupils, 12))
        recounted.refresh(some, from_day=from_day)
    for counts in (day_by_day, recounted):
        got = _tables(counts, through)
        for name, table in expected.items():
            assert np.array_equal(got[name], table), name


def test_a_days_two_codes_read_as_one_pair_day_by_day() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, N_IDS, (7, 40)).astype(np.int8)
    for grid in (codes, codes[:, 6:30], codes[2:5, 10:12]):
        expected = PAIRS[grid[:, 0::2], grid[:, 1::2]].T
        assert np.array_equal(day_pairs(grid), expected)


@pytest.mark.parametrize("calendar", [ONE_YEAR, TWO_YEARS], ids=["one year", "two years"])
def test_counts_built_through_a_day_then_extended_equal_those_built_whole(
    calendar: SchoolCalendar,
) -> None:
    grid = _grid(calendar, 40, seed=3)
    through = calendar.n_days - 1
    whole = _tables(CumulativeCounts(grid, calendar, through_day=through), through)
    for first_through in (0, 41, calendar.n_days - 2):
        counts = CumulativeCounts(grid, calendar, through_day=first_through)
        counts.extend_to(first_through + 1)  # makes room for the rest of the calendar
        counts.extend_to(through)
        got = _tables(counts, through)
        for name, table in whole.items():
            assert np.array_equal(got[name], table), (first_through, name)


def test_figures_kept_for_an_earlier_day_go_when_a_recount_reaches_that_day() -> None:
    """``by_day`` (``DayEnv.on_day``'s earlier days' facts) keeps a day's figures while no
    recount reaches it: a refresh from day 10 drops days 10 and after, keeps day 9."""
    counts = CumulativeCounts(_grid(ONE_YEAR, 5, seed=3), ONE_YEAR, through_day=30)
    for day in (5, 9, 10, 20):
        counts.keep_by_day((day, 30), f"figures of {day}")
    counts.refresh(np.array([2]), from_day=10)
    assert sorted(counts.by_day) == [(5, 30), (9, 30)]
    counts.refresh(np.array([], dtype=np.intp), from_day=0)  # no pupil recounted: kept
    assert sorted(counts.by_day) == [(5, 30), (9, 30)]
