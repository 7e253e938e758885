"""The local authority's monthly notifications (issue 16, part 5), from a school's register.

Schools tell the local authority at least monthly about pupils with 10 consecutive school days
of unauthorised absence, and pupils expected to miss 15 school days through illness. Here,
exactly:

- **10 consecutive school days**: a run of school days with both sessions unauthorised (``G``,
  ``N``, ``O``, ``U``; the fact ``consecutive_unauthorised_school_days``) that reaches 10 days
  on a school day of the month (up to the as-of day). A run that began the month before counts;
  the longest run ending in the month is reported with its first and last day.
- **Expected to miss 15 school days through illness**: sessions marked ``I`` this academic year
  to the as-of day, plus the rate of ``I`` over the last 10 school days continued over the
  school days left in the term, reach 30 sessions (15 days). An illness spell still running at
  the month's end is projected to the term's end; one that has ended adds nothing. A rate over
  fewer than ``MIN_POSSIBLE_SESSIONS`` possible sessions (early September, a pupil just on roll)
  is noise, not a projection: such a pupil is listed as **too few sessions to judge**, never as
  expected (domain.md: one day is several points).

A pupil already named in an earlier month's return recorded as sent is marked with the date it
was first sent (``earlier_notifications``): the authority has heard of them; this month's line
says whether it is news.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from escalation_flow.core.packed_counts import Key
from escalation_flow.core.session_counts import CumulativeCounts

CONSECUTIVE_DAYS = 10
ILLNESS_DAYS = 15
RECENT_ILLNESS_SCHOOL_DAYS = 10
#: Below this many possible sessions in the recent window a rate is too few to judge.
MIN_POSSIBLE_SESSIONS = 10


@dataclass(frozen=True)
class UnauthorisedRun:
    pupil: str
    first_day: int  # school-day indices
    last_day: int

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1


@dataclass(frozen=True)
class IllnessExpected:
    pupil: str
    illness_days_so_far: float  # this academic year to the as-of day
    illness_days_expected: float  # by the end of the term, at the recent rate
    #: possible sessions in the recent window the rate is taken over
    recent_possible: int = MIN_POSSIBLE_SESSIONS

    @property
    def judged(self) -> bool:
        """Whether the rate rests on enough possible sessions to mean anything."""
        return self.recent_possible >= MIN_POSSIBLE_SESSIONS


def unauthorised_runs(
    counts: CumulativeCounts, first_day: int, last_day: int
) -> list[UnauthorisedRun]:
    """Pupils whose run of unauthorised school days reached ``CONSECUTIVE_DAYS`` on a school
    day ``first_day..last_day`` (the month to the as-of day), each with their longest such run."""
    best: dict[int, tuple[int, int]] = {}
    for day in range(first_day, last_day + 1):
        runs = counts.unauthorised_days_ending(day)
        for i in np.flatnonzero(runs >= CONSECUTIVE_DAYS):
            length = int(runs[i])
            pupil = int(i)
            if pupil not in best or length >= best[pupil][1] - best[pupil][0] + 1:
                best[pupil] = (day - length + 1, day)
    pupils = counts.grid.pupils
    return [UnauthorisedRun(pupils[i], *best[i]) for i in sorted(best, key=lambda p: pupils[p])]


def illness_expected(
    counts: CumulativeCounts, year_first_day: int, as_of_day: int, term_last_day: int
) -> list[IllnessExpected]:
    """Pupils expected to miss ``ILLNESS_DAYS`` school days through illness (the method above)."""
    end = 2 * as_of_day + 1
    so_far = counts.counts_between(2 * year_first_day, end).count(Key.ILLNESS).astype(np.float64)
    recent_first = max(year_first_day, as_of_day - RECENT_ILLNESS_SCHOOL_DAYS + 1)
    window = counts.counts_between(2 * recent_first, end)
    recent = window.count(Key.ILLNESS)
    recent_sessions = 2 * (as_of_day - recent_first + 1)
    left = 2 * max(0, term_last_day - as_of_day)
    expected = so_far + recent * (left / recent_sessions)
    possible = window.possible
    pupils = counts.grid.pupils
    return [
        IllnessExpected(pupils[i], so_far[i] / 2, expected[i] / 2, int(possible[i]))
        for i in sorted(np.flatnonzero(expected >= 2 * ILLNESS_DAYS), key=lambda p: pupils[p])
    ]


def earlier_notifications(
    sent: Iterable[tuple[str, str, Iterable[str], datetime]], month: str
) -> dict[str, datetime]:
    """Each pupil named in a return recorded as sent for a month before ``month`` (``YYYY-MM``),
    with when they were first sent: (school month, pupils, sent at) of every return."""
    first: dict[str, datetime] = {}
    for _school, sent_month, pupils, at in sent:
        if sent_month >= month:
            continue
        for pupil in pupils:
            if pupil not in first or at < first[pupil]:
                first[pupil] = at
    return first
