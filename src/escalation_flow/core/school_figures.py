"""A school's headline figures on a day: what the school and trust dashboards show at the top.

Counted from the facts table the daemon's evening and the pages read (``core.facts``), for the
pupils a viewer may see (the whole school, or a class teacher's year groups). One function, so
that the figures stored by the evening and those counted by a page on a miss cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from escalation_flow.core.facts import FactTable

#: "N must be replaced within 5 school days": an N older than this is a data problem.
OLD_N_SCHOOL_DAYS = 5


@dataclass(frozen=True)
class SchoolFigures:
    """Pupils in scope, attendance year to date (NaN: nothing possible yet), persistent and
    severe absence counts, pupils whose year-to-date percentage is known, and the register
    problems (pupils with unmarked sessions, with an N older than ``OLD_N_SCHOOL_DAYS``)."""

    pupils: int
    attendance_pct: float
    persistent: int
    severe: int
    known: int
    unmarked_pupils: int
    old_n_pupils: int

    def share(self, count: int) -> float:
        return 100.0 * count / self.known if self.known else math.nan


def school_figures(facts: FactTable | None, pupils: Collection[str]) -> SchoolFigures:
    """The figures of ``pupils`` (roster and register pupils in scope) from ``facts``."""
    mask = _mask(facts, pupils)
    if facts is None or not mask.any():
        return SchoolFigures(len(pupils), math.nan, 0, 0, 0, 0, 0)
    column = facts.values
    attended = column["attended_sessions"][mask].sum()
    possible = column["possible_sessions"][mask].sum()
    persistent = column["persistent_absence"][mask]
    return SchoolFigures(
        pupils=len(pupils),
        attendance_pct=float(100.0 * attended / possible) if possible else math.nan,
        persistent=int(np.nansum(persistent)),
        severe=int(np.nansum(column["severe_absence"][mask])),
        known=int((~np.isnan(persistent)).sum()),
        unmarked_pupils=_above(column["unmarked_sessions"], mask, 0),
        old_n_pupils=_above(column["oldest_unresolved_n_school_days"], mask, OLD_N_SCHOOL_DAYS),
    )


def _mask(facts: FactTable | None, pupils: Collection[str]) -> np.ndarray[Any, Any]:
    if facts is None:
        return np.zeros(0, dtype=bool)
    return np.array([p in pupils for p in facts.pupils], dtype=bool)


def _above(values: np.ndarray[Any, Any], mask: np.ndarray[Any, Any], above: float) -> int:
    # NaN (not known) is never above anything, as the pages' lists count it
    return int(((values > above) & mask).sum())
