"""The counting facts of issue 11 part 3 equal a brute-force count over a generated register.

Each example marks a few pupils with runs of ``/ \\ L U I M C G N O -`` ending near an as-of day
of a two-year calendar (so windows, episodes and the previous term reach across terms and the
summer), and compares, for every pupil:

- the register facts (episodes, the previous term) with ``reference_facts``, one session at a
  time in plain Python;
- every window ``<measure>_last_<N>_school_<weeks|days>`` (N from the issue's 2, 4, 6, 8, 10,
  and any other, by number or by parameter) with a count over the window's sessions;
- every counter since the stage, the state, the case and a recorded task with a count over the
  sessions after (for the case: from) each pupil's own day.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.codes import CATEGORY_OF_ID, CODE_OF_ID, Category, code_id
from escalation_flow.core.context import Context
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.facts import facts_from_counts
from escalation_flow.core.register import RegisterGrid, enrolment_of
from escalation_flow.core.school_cases import SchoolCases
from escalation_flow.core.session_counts import CumulativeCounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference_facts import reference_facts
from register_builders import bundled_calendar

ROOT = Path(__file__).resolve().parents[2]
CAL = bundled_calendar("2025-26", "2026-27")
FLOW = load_flow(ROOT / "tests" / "data" / "flows" / "tiny-example.yaml")
CODES = ["/", "\\", "L", "U", "I", "M", "C", "G", "N", "O", "-"]
NEW_REGISTER_FACTS = (
    "current_absence_episode_school_days",
    "absence_episodes_this_term",
    "school_days_since_first_unexplained_absence_of_episode",
    "consecutive_unexplained_school_days",
    "attendance_pct_previous_term",
    "unauthorised_sessions_previous_term",
)
LENGTHS = (1, 2, 3, 4, 5, 6, 8, 10, 13)
UNAUTHORISED = {"G", "N", "O", "U"}
LATE = {"L", "U"}

runs = st.lists(st.tuples(st.sampled_from(CODES), st.integers(1, 24)), min_size=1, max_size=25)


@st.composite
def registers(draw: st.DrawFn) -> tuple[RegisterGrid, int, list[list[int]]]:
    day = draw(st.integers(0, CAL.n_days - 1))
    pupils = []
    for _ in range(3):
        sessions = [code for code, n in draw(runs) for _ in range(n)]
        end = min(CAL.n_sessions, 2 * day + 2 + draw(st.integers(0, 6)))
        row = [code_id("/")] * CAL.n_sessions
        for k, code in enumerate(reversed(sessions)):
            s = end - 1 - k
            if s >= 0:
                row[s] = code_id(code)
        pupils.append(row)
    names = tuple(f"P{i}" for i in range(len(pupils)))
    grid = RegisterGrid(
        "oaks", names, np.array(pupils, dtype=np.int8), enrolment_of(names, CAL, None)
    )
    anchors = [[draw(st.integers(-1, day)) for _ in names] for _ in range(4)]
    return grid, day, anchors


def _same(got: float, want: float, what: str) -> None:
    assert (math.isnan(got) and math.isnan(want)) or got == want, f"{what}: {got} != {want}"


def _count(codes: list[int], first: int, last: int, test: set[str] | str) -> float:
    """Sessions ``first..last`` whose code passes ``test`` (a set of codes, or "absent")."""
    out = 0
    for s in range(max(first, 0), last + 1):
        code = codes[s]
        if test == "absent":
            out += CATEGORY_OF_ID[code] in (Category.AUTHORISED, Category.UNAUTHORISED)
        else:
            out += _code(code) in test
    return float(out)


def _code(code: int) -> str:
    return CODE_OF_ID[code]


def _pct(codes: list[int], first: int, last: int, minimum: int) -> float:
    present = sum(
        CATEGORY_OF_ID[codes[s]] in (Category.PRESENT, Category.APPROVED_ACTIVITY)
        for s in range(first, last + 1)
    )
    possible = present + _count(codes, first, last, "absent")
    return math.nan if possible == 0 or possible < minimum else 100.0 * present / possible


@given(registers())
def test_episodes_and_the_previous_term_equal_a_count_day_by_day(
    case: tuple[RegisterGrid, int, list[list[int]]],
) -> None:
    grid, day, _ = case
    table = facts_from_counts(CumulativeCounts(grid, CAL, through_day=day), day, min_possible_sessions_ytd=10)
    for p, pupil in enumerate(grid.pupils):
        want = reference_facts(grid.codes[p].tolist(), CAL, day, min_possible_sessions_ytd=10)
        got = table.row(pupil)
        for name in NEW_REGISTER_FACTS:
            _same(got[name], want[name], f"{pupil} day {day} {name}")


@given(registers())
def test_windows_of_n_school_weeks_and_days_equal_a_count_over_their_sessions(
    case: tuple[RegisterGrid, int, list[list[int]]],
) -> None:
    grid, day, _ = case
    counts = CumulativeCounts(grid, CAL, through_day=day)
    env = _env(grid, counts, day)
    for n in LENGTHS:
        for unit in ("weeks", "days"):
            first = CAL.weeks_back_first_day(day, n) if unit == "weeks" else max(0, day - n + 1)
            minimum = 10 if unit == "weeks" else min(10, 2 * n)
            a, b = 2 * first, 2 * day + 1
            for p in range(grid.n_pupils):
                codes = grid.codes[p].tolist()
                want = {
                    "unauthorised_sessions": _count(codes, a, b, UNAUTHORISED),
                    "absence_sessions": _count(codes, a, b, "absent"),
                    "attendance_pct": _pct(codes, a, b, minimum),
                }
                for measure, value in want.items():
                    got = env[f"{measure}_last_{n}_school_{unit}"]
                    _same(float(got[p]), value, f"{measure} {n} {unit} P{p}")


@given(registers())
def test_counters_since_the_stage_state_case_and_a_task_equal_a_count_after_each_day(
    case: tuple[RegisterGrid, int, list[list[int]]],
) -> None:
    grid, day, anchors = case
    counts = CumulativeCounts(grid, CAL, through_day=day)
    env = _env(grid, counts, day)
    book = env.book
    book.stage_day[:], book.state_day[:] = anchors[0], anchors[1]
    book.open_day[:] = anchors[2]
    book.recorded_day["concern_letter"] = np.array(anchors[3], dtype=np.int64)
    for anchor, days, offset in (
        ("stage_entry", anchors[0], 1),
        ("state_entry", anchors[1], 1),
        ("case_opened", anchors[2], 0),  # from the day the case opened
        ("concern_letter", anchors[3], 1),
    ):
        for measure, test in (
            ("unauthorised_sessions", UNAUTHORISED),
            ("late_sessions", LATE),
            ("absence_sessions", "absent"),
        ):
            got = env[f"{measure}_since_{anchor}"]
            for p in range(grid.n_pupils):
                codes = grid.codes[p].tolist()
                start = days[p]
                want = math.nan if start < 0 else _count(codes, 2 * (start + offset), 2 * day + 1, test)
                _same(float(got[p]), want, f"{measure}_since_{anchor} P{p} from {start} to {day}")


def test_a_window_whose_length_is_a_parameter_counts_over_that_many_weeks() -> None:
    rng = np.random.default_rng(3)
    codes = rng.choice([code_id(c) for c in ("/", "\\", "N", "G", "I")], (4, CAL.n_sessions))
    names = tuple(f"P{i}" for i in range(4))
    grid = RegisterGrid("oaks", names, codes.astype(np.int8), enrolment_of(names, CAL, None))
    counts = CumulativeCounts(grid, CAL, through_day=250)
    env = _env(grid, counts, 250)
    env._values["window_weeks"] = 8.0  # as a flow's parameter, for this day's term
    np.testing.assert_array_equal(
        env["unauthorised_sessions_last_window_weeks_school_weeks"],
        env["unauthorised_sessions_last_8_school_weeks"],
    )


def _env(grid: RegisterGrid, counts: CumulativeCounts, day: int) -> DayEnv:
    book = SchoolCases(Context(FLOW, CAL), "oaks", grid.pupils)
    facts = facts_from_counts(counts, day, min_possible_sessions_ytd=10)
    return DayEnv(book, facts, counts)
