"""Projected year-end attendance and the at-risk-of-persistent-absence flag (issue 16, part 4).

The method, exactly (``docs/architecture.md`` and the README say it in words):

- the year so far: ``A`` sessions attended of ``P`` possible, year to date (``attended_sessions``,
  ``possible_sessions``);
- the recent rate ``r``: attendance over the last 4 school weeks (the fact
  ``attendance_pct_last_4_school_weeks``) as a fraction; when that is unknown (too few possible
  sessions in the window) the year-to-date rate ``A / P`` stands in;
- the rest of the year ``R``: two sessions for every school day of the calendar after the as-of
  day to the last school day of its academic year (the pupil is assumed to stay on roll);
- projected year-end attendance ``= 100 * (A + r * R) / (P + R)``: the year so far as it stands,
  with every remaining possible session attended at the recent rate.

It is unknown (NaN) when the year-to-date attendance is (too few possible sessions).
``at_risk_of_persistent_absence`` is 1 when a pupil is not persistently absent now (attendance
above 90%) and the projection is 90% or less; 0 otherwise; unknown when either is unknown.
On the last school day of the year ``R`` is 0, so the projection is the year's attendance.

Pure: the caller passes the day's facts and the number of school days left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]

PROJECTION_FACTS = ("projected_year_end_attendance_pct", "at_risk_of_persistent_absence")

#: Persistent absence: attendance of 90% or less over the year (domain rule).
PERSISTENT_ABSENCE_PCT = 90.0


def year_end_projection(
    values: Mapping[str, FloatArray], school_days_left: int
) -> dict[str, FloatArray]:
    """The two projection facts from one day's register facts (``core.facts``' names).

    ``school_days_left``: school days after the as-of day to the end of its academic year.
    """
    if school_days_left < 0:
        raise ValueError(f"school days left cannot be negative ({school_days_left})")
    attended = values["attended_sessions"]
    possible = values["possible_sessions"]
    ytd_pct = values["attendance_pct"]
    recent_pct = values["attendance_pct_last_4_school_weeks"]
    rate = np.where(np.isnan(recent_pct), ytd_pct, recent_pct)
    rate /= 100.0
    remaining = 2.0 * school_days_left
    # Unknown where the year's attendance is: its NaN carried into the denominator (0 where
    # known, and there at least one session was possible, so the denominator is never 0).
    # Each operation is the one the formula names, in its order: the figures are exactly so.
    denominator = ytd_pct * 0.0
    denominator += possible
    denominator += remaining
    projected = rate * remaining
    projected += attended
    projected *= 100.0
    projected /= denominator
    # "Not persistently absent now" is the register's own flag (an exact integer comparison).
    not_persistent = values["persistent_absence"] == 0
    # The projection is finite wherever known: times 0, the NaN of the unknown ones.
    at_risk: FloatArray = np.add(
        not_persistent & (projected <= PERSISTENT_ABSENCE_PCT), projected * 0.0
    )
    return {PROJECTION_FACTS[0]: projected, PROJECTION_FACTS[1]: at_risk}


def projected_pct(
    attended: int, possible: int, recent_pct: float | None, school_days_left: int
) -> float:
    """One pupil's projection, for tests and explanations (the same formula, in plain floats)."""
    rate = (attended / possible) if recent_pct is None else recent_pct / 100.0
    remaining = 2 * school_days_left
    return 100.0 * (attended + rate * remaining) / (possible + remaining)
