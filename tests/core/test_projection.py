"""Projected year-end attendance and the at-risk flag, checked against a hand computation."""

from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path

import numpy as np

from escalation_flow.core.facts import facts_as_of
from escalation_flow.core.projection import projected_pct, year_end_projection
from escalation_flow.core.register import AssumeRecordedAtEndOfDay, register_as_known_at

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from register_builders import bundled_calendar, mark_table, school_days, whole_days

CAL = bundled_calendar("2025-26")
END_OF_AUTUMN = date(2025, 12, 19)
#: The six whole days absent in the last four school weeks of the autumn term (24 Nov - 19 Dec).
ABSENT_DAYS = [date(2025, 11, 24), date(2025, 11, 25), date(2025, 12, 1), date(2025, 12, 2),
               date(2025, 12, 8), date(2025, 12, 15)]  # fmt: skip


def _facts(as_of: date) -> dict[str, dict[str, float]]:
    days = school_days(CAL, CAL.first_day, as_of)
    rows = whole_days(CAL, "P1", [d for d in days if d not in ABSENT_DAYS], "/")
    rows += whole_days(CAL, "P1", ABSENT_DAYS, "O")
    rows += whole_days(CAL, "P2", days, "/")
    grid = register_as_known_at(
        mark_table(CAL, rows), CAL, known_at=None, unknown_recorded_at=AssumeRecordedAtEndOfDay()
    )
    table = facts_as_of(grid, CAL, CAL.day_index(as_of), min_possible_sessions_ytd=10)
    return {p: table.row(p) for p in ("P1", "P2")}


def test_projection_at_the_end_of_autumn_matches_the_hand_computation() -> None:
    # By hand: the autumn term has 72 school days (3 in the first week, 34 to half term with the
    # INSET day on 24 October, 35 after), so 144 possible sessions; P1 missed 6 whole days, all
    # in the last 4 school weeks (20 days, 40 sessions): attended 132, year to date 91.67%, not
    # persistently absent; recent rate 28/40 = 70%. The year has 191 school days, so 119 are
    # left: 238 sessions. Projection = (132 + 0.7 * 238) / (144 + 238) = 298.6 / 382 = 78.17%.
    idx = CAL.day_index(END_OF_AUTUMN)
    assert idx + 1 == 72
    assert CAL.year_of(idx).last - idx == 119
    p1 = _facts(END_OF_AUTUMN)["P1"]
    assert (p1["attended_sessions"], p1["possible_sessions"]) == (132, 144)
    assert p1["attendance_pct_last_4_school_weeks"] == 70.0
    assert p1["persistent_absence"] == 0
    assert math.isclose(p1["projected_year_end_attendance_pct"], 100 * 298.6 / 382)
    assert round(p1["projected_year_end_attendance_pct"], 2) == 78.17
    assert p1["at_risk_of_persistent_absence"] == 1


def test_a_pupil_present_throughout_is_projected_at_100_and_not_at_risk() -> None:
    p2 = _facts(END_OF_AUTUMN)["P2"]
    assert p2["projected_year_end_attendance_pct"] == 100.0
    assert p2["at_risk_of_persistent_absence"] == 0


def test_on_the_last_school_day_the_projection_is_the_years_attendance() -> None:
    last = CAL.school_days[CAL.year_of(0).last]
    p1 = _facts(last)["P1"]
    assert p1["projected_year_end_attendance_pct"] == p1["attendance_pct"]


def test_a_pupil_already_persistently_absent_is_not_flagged_at_risk() -> None:
    values = {
        "attended_sessions": np.array([80.0]),
        "possible_sessions": np.array([100.0]),
        "attendance_pct": np.array([80.0]),
        "attendance_pct_last_4_school_weeks": np.array([50.0]),
        "persistent_absence": np.array([1.0]),
    }
    out = year_end_projection(values, 10)
    assert out["projected_year_end_attendance_pct"][0] == projected_pct(80, 100, 50.0, 10)
    assert out["at_risk_of_persistent_absence"][0] == 0


def test_without_recent_weeks_the_year_so_far_rate_stands_in_and_unknown_stays_unknown() -> None:
    values = {
        "attended_sessions": np.array([95.0, 3.0]),
        "possible_sessions": np.array([100.0, 4.0]),
        "attendance_pct": np.array([95.0, np.nan]),
        "attendance_pct_last_4_school_weeks": np.array([np.nan, np.nan]),
        "persistent_absence": np.array([0.0, np.nan]),
    }
    out = year_end_projection(values, 50)
    assert out["projected_year_end_attendance_pct"][0] == 95.0
    assert out["at_risk_of_persistent_absence"][0] == 0
    assert np.isnan(out["projected_year_end_attendance_pct"][1])
    assert np.isnan(out["at_risk_of_persistent_absence"][1])
