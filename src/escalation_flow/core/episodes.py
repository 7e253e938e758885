"""Episodes of absence: runs of consecutive school days of absence, kept day by day.

A **day of absence** is a school day whose two sessions are both absences (authorised or
unauthorised: ``I M R E C T Q J S X``'s absences, ``G N O U``); a day with one session present,
unmarked, not possible or off roll ends a run. An **episode** is a maximal run of days of absence
(over school days: a weekend or a holiday between two such days does not end it). A day is
**unexplained** when both its sessions are ``N`` (no reason yet) or ``O`` (unknown
circumstances): ``G`` (an explained, unauthorised holiday) and ``U`` (late after the register
closed: the pupil was in school) never count (issue 11, rule 2).

For each pupil and school day, ``EpisodeRuns`` keeps (``[day, pupil]``, two bytes a cell):

- ``absence_run``: days of absence in a row ending that day (0: the day is not one);
- ``unexplained_run``: unexplained days in a row ending that day;
- ``first_unexplained``: the position, within the run of absence ending that day, of its first
  day with an ``N`` or ``O`` session (-1: none, or not absent that day);
- ``starts``: running count of days that start an episode, over days ``0..d - 1``.

``CumulativeCounts`` fills these as it fills its counts (``fill``) and recounts a pupil whose
earlier marks changed, so the runs are always those of the register as it now reads.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.codes import CATEGORY_OF_ID, ID_OF_CODE, Category
from escalation_flow.core.packed_counts import N_IDS

IntArray: TypeAlias = npt.NDArray[np.int64]


def _tables() -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    category = np.append(CATEGORY_OF_ID, -1)  # the off-roll id is in no category
    absent = (category == Category.AUTHORISED) | (category == Category.UNAUTHORISED)
    unexplained = np.zeros(N_IDS, dtype=bool)
    unexplained[[ID_OF_CODE["N"], ID_OF_CODE["O"]]] = True
    return absent, unexplained


_ABSENT, _UNEXPLAINED = _tables()


class EpisodeRuns:
    """Runs of absence for every pupil and school day (see the module's text)."""

    def __init__(self, n_days: int, n_pupils: int) -> None:
        self.absence_run = np.zeros((n_days, n_pupils), np.int16)
        self.unexplained_run = np.zeros((n_days, n_pupils), np.int16)
        self.first_unexplained = np.full((n_days, n_pupils), -1, np.int16)
        self.starts = np.zeros((n_days + 1, n_pupils), np.uint16)

    def fill(
        self, pupils: slice | npt.NDArray[np.intp], first: int, am: IntArray, pm: IntArray
    ) -> None:
        """Days ``first..`` of ``pupils`` from their AM and PM code ids (off roll: the off-roll
        id), ``(pupils, days)``; the day before ``first`` is already filled."""
        absent = _ABSENT[am] & _ABSENT[pm]
        unexplained = _UNEXPLAINED[am] & _UNEXPLAINED[pm]
        some_unexplained = _UNEXPLAINED[am] | _UNEXPLAINED[pm]
        if first > 0:
            run = self.absence_run[first - 1, pupils].astype(np.int64)
            urun = self.unexplained_run[first - 1, pupils].astype(np.int64)
            pos = self.first_unexplained[first - 1, pupils].astype(np.int64)
        else:
            run = np.zeros(absent.shape[0], np.int64)
            urun, pos = run.copy(), np.full(absent.shape[0], -1, np.int64)
        starts = self.starts[first, pupils].astype(np.int64)
        for k in range(absent.shape[1]):
            day, here = first + k, absent[:, k]
            starts = starts + (here & (run == 0))
            run = np.where(here, run + 1, 0)
            urun = np.where(unexplained[:, k], urun + 1, 0)
            new = np.where(some_unexplained[:, k], run - 1, -1)
            pos = np.where(here, np.where(pos >= 0, pos, new), -1)
            self.absence_run[day, pupils] = run
            self.unexplained_run[day, pupils] = urun
            self.first_unexplained[day, pupils] = pos
            self.starts[day + 1, pupils] = starts

    # -- asking (every pupil, at the end of one school day) ------------------------------------

    def current_run(self, day: int) -> IntArray:
        """School days of the episode of absence that holds ``day`` so far (0: not absent)."""
        run: IntArray = self.absence_run[day].astype(np.int64)
        return run

    def unexplained_days(self, day: int) -> IntArray:
        """Unexplained school days in a row ending with ``day``."""
        run: IntArray = self.unexplained_run[day].astype(np.int64)
        return run

    def days_since_first_unexplained(self, day: int) -> npt.NDArray[np.float64]:
        """School days from the first day with an ``N``/``O`` session of the episode holding
        ``day`` to ``day`` (0: that day is today); NaN when no episode holds ``day`` or the
        episode has no such session."""
        run = self.absence_run[day].astype(np.float64)
        pos = self.first_unexplained[day].astype(np.float64)
        return np.where(pos >= 0, run - 1 - pos, np.nan)

    def episodes_between(self, first: int, day: int) -> IntArray:
        """Episodes with a day in ``first..day``: those starting there, and one already running
        on ``first`` (begun on an earlier school day)."""
        started = self.starts[day + 1].astype(np.int64) - self.starts[first].astype(np.int64)
        running = self.absence_run[first].astype(np.int64) >= 2
        episodes: IntArray = started + running
        return episodes
