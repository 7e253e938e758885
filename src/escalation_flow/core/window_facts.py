"""Windows of N school weeks or N school days, N written in the fact's name.

``<measure>_last_<N>_school_<weeks|days>``: ``measure`` is ``unauthorised_sessions`` (G N O U),
``absence_sessions`` (authorised and unauthorised absence) or ``attendance_pct``; ``N`` is a
whole number (1-39 school weeks, 1-195 school days) or the name of one of the flow's parameters,
whose value (per term) is such a number. The guard language is unchanged: a window is one more
name, checked when the flow is loaded and computed, for every pupil at once, the first time a
day's guard reads it.

The windows are those of ``core.facts``: the N school weeks ending with the as-of day's week, or
the N school days ending with the as-of day, across breaks, terms and years as far back as the
calendars loaded reach. A percentage over N school weeks is unknown below 10 possible sessions
(as the bundled ``attendance_pct_last_<n>_school_weeks``); over N school days, below
``min(10, 2N)`` (two days hold only four sessions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.session_counts import CumulativeCounts

FloatArray: TypeAlias = npt.NDArray[np.float64]

MEASURES = ("unauthorised_sessions", "absence_sessions", "attendance_pct")
LONGEST = {"weeks": 39, "days": 195}
MIN_POSSIBLE_SESSIONS = 10
_NAME = re.compile(
    r"^(unauthorised_sessions|absence_sessions|attendance_pct)_last_([a-z0-9_]+?)_school_(weeks|days)$"
)


@dataclass(frozen=True)
class Window:
    """A window fact's name read: what it counts and over how many school weeks or days."""

    measure: str
    unit: str  # "weeks" or "days"
    length: int | None  # the number written in the name
    parameter: str | None  # or the parameter that gives it


def parse_window(name: str) -> Window | None:
    """The window a name asks for, or None if it is not a window fact's name."""
    match = _NAME.match(name)
    if match is None:
        return None
    measure, n, unit = match.groups()
    if n.isdigit():
        return Window(measure, unit, int(n), None)
    return Window(measure, unit, None, n)


def window_names(parameters: Iterable[str]) -> set[str]:
    """Every window name a flow with these parameters may use (numbers within range)."""
    lengths = [*map(str, range(1, max(LONGEST.values()) + 1)), *parameters]
    return {
        f"{m}_last_{n}_school_{unit}"
        for m in MEASURES
        for unit, longest in LONGEST.items()
        for n in lengths
        if not n.isdigit() or int(n) <= longest
    }


def length_problem(window: Window, values: Iterable[float]) -> str | None:
    """Why a parameter's values cannot be the length of ``window`` (None: they can)."""
    longest = LONGEST[window.unit]
    bad = sorted({v for v in values if not (float(v).is_integer() and 1 <= v <= longest)})
    if not bad:
        return None
    return (
        f"parameter {window.parameter!r} gives the length of a window of school {window.unit}: "
        f"it must be a whole number from 1 to {longest} in every term, not {bad[0]:g}"
    )


def window_values(
    counts: CumulativeCounts, day: int, window: Window, parameters: Mapping[str, float]
) -> FloatArray:
    """The window's values for every pupil at the end of school day ``day``."""
    n = window.length if window.length is not None else int(parameters[str(window.parameter)])
    calendar = counts.calendar
    if window.unit == "weeks":
        week = int(calendar.week_of_day[day])
        first = int(calendar.week_first_day[max(0, week - n + 1)])
        minimum = MIN_POSSIBLE_SESSIONS
    else:
        first = max(0, day - n + 1)
        minimum = min(MIN_POSSIBLE_SESSIONS, 2 * n)
    counted = counts.counts_between(2 * first, 2 * day + 1)
    if window.measure == "attendance_pct":
        return counted.attendance_pct(min_possible_sessions=minimum)
    measured = counted.unauthorised if window.measure == "unauthorised_sessions" else counted.absence
    return measured.astype(np.float64)
