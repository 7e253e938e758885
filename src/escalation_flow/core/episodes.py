"""Episodes of absence: runs of consecutive school days of absence, kept day by day.

A **day of absence** is a school day whose two sessions are both absences (authorised or
unauthorised: ``I M R E C T Q J S X``'s absences, ``G N O U``); a day with one session present,
unmarked, not possible or off roll ends a run. An **episode** is a maximal run of days of absence
(over school days: a weekend or a holiday between two such days does not end it). A day is
**unexplained** when both its sessions are ``N`` (no reason yet) or ``O`` (unknown
circumstances): ``G`` (an explained, unauthorised holiday) and ``U`` (late after the register
closed: the pupil was in school) never count (issue 11, rule 2).

For each pupil and school day, ``EpisodeRuns`` keeps (``[day, pupil]``, one byte a cell, two beyond 255 school days):

- ``absence_run``: days of absence in a row ending that day (0: the day is not one);
- ``unexplained_run``: unexplained days in a row ending that day;
- ``since_unexplained``: 1 + the school days from the first day with an ``N`` or ``O`` session of
  the run of absence ending that day to that day (0: no such day, or not absent that day);
- ``starts``: running count of days that start an episode, over days ``0..d - 1``.

``CumulativeCounts`` fills these as it fills its counts (``fill``) and recounts a pupil whose
earlier marks changed, so the runs are always those of the register as it now reads.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.codes import CATEGORY_OF_ID, ID_OF_CODE, Category

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
UIntGrid: TypeAlias = npt.NDArray[np.unsignedinteger[Any]]


def _id_span(ids: npt.NDArray[np.intp], what: str) -> tuple[int, int]:
    """The first id and the span of a set of code ids that follow one another (the code table
    lists each category's codes together), so that membership is one subtraction and one
    comparison of the register's bytes: numpy compares bytes many at a time, where a table
    lookup costs a dozen instructions a byte."""
    first, last = int(ids.min()), int(ids.max())
    if last - first + 1 != ids.size:
        raise AssertionError(f"the {what} codes' ids do not follow one another: {ids.tolist()}")
    return first, last - first


_ABSENT_IDS = _id_span(
    np.flatnonzero(
        (CATEGORY_OF_ID == Category.AUTHORISED) | (CATEGORY_OF_ID == Category.UNAUTHORISED)
    ),
    "absence",
)
_UNEXPLAINED_IDS = _id_span(np.array([ID_OF_CODE["N"], ID_OF_CODE["O"]]), "N and O")
#: A day's pair of code ids read as one ``uint16`` when both its sessions are in a set of codes
#: (marked 1 each): the same in either byte order.
_BOTH = 0x0101
#: Days read at once when filling.
_BLOCK_DAYS = 16


def _in_span(
    sessions: npt.NDArray[np.uint8],
    span: tuple[int, int],
    scratch: npt.NDArray[np.uint8],
    out: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint16]:
    """Per session, whether its code id is in ``span``, as pairs of bytes read as ``uint16``."""
    np.subtract(sessions, span[0], out=scratch)  # ids below the span wrap round, above it
    np.less_equal(scratch, span[1], out=out)
    pairs: npt.NDArray[np.uint16] = out.view(np.uint16)
    return pairs


class EpisodeRuns:
    """Runs of absence for every pupil and school day (see the module's text).

    Each table holds the smallest unsigned integers that count every school day of the
    calendar (one byte a cell for one academic year): the tables are written whole for every
    school, and fresh memory costs the kernel's clearing of it as much again.
    """

    def __init__(self, n_days: int, n_pupils: int, *, filled_through: int = -1) -> None:
        """Empty tables; the rows of days ``0..filled_through`` are left for the first ``fill``
        to write (clearing them first would cost as much again)."""
        self.dtype: type[np.unsignedinteger[Any]] = np.uint8 if n_days < 2**8 else np.uint16
        # One allocation for the four tables (numpy asks the kernel for huge pages for a big
        # one, where four small ones fault in page by page), a day's four rows side by side:
        # each day's three runs are then stepped by one operation on one block. Rows for the
        # days to be filled first only (``make_room``: the rest of the calendar's).
        tables: UIntGrid = np.empty((filled_through + 2, 4, n_pupils), self.dtype)
        tables[filled_through + 1 :] = 0
        self._set_tables(tables)
        self.starts[0] = 0

    def _set_tables(self, tables: UIntGrid) -> None:
        self._tables = tables
        self.absence_run = tables[:, 0]
        self.unexplained_run = tables[:, 1]
        self.since_unexplained = tables[:, 2]
        self.starts = tables[:, 3]

    def make_room(self, n_days: int) -> None:
        """Rows for every one of ``n_days`` school days, those held so far copied over."""
        held = self._tables.shape[0]
        tables: UIntGrid = np.empty((n_days + 1, *self._tables.shape[1:]), self.dtype)
        tables[:held] = self._tables
        tables[held:] = 0
        self._set_tables(tables)

    def fill(
        self, pupils: slice | npt.NDArray[np.intp], first: int, pairs: npt.NDArray[np.uint16]
    ) -> None:
        """Days ``first..`` of ``pupils`` from each day's pair of code ids (off roll: the off-roll
        id), ``(days, pupils)`` as ``packed_counts.day_pairs`` gives them; the day before
        ``first`` is already filled.

        The runs depend on the day before, so they are stepped day by day, each step a few
        operations on one block of every pupil's rows (numpy's cost per call is most of it),
        written straight into the tables when every pupil is filled. What each day is (absent,
        unexplained, with an N or O, the first of an episode) is read for a block of days at
        once, into scratch rows that stay in the cache.
        """
        days, width = pairs.shape
        dtype = self.dtype
        if isinstance(pupils, slice):
            out = self._tables[first : first + days + 1]
        else:
            out = np.empty((days + 1, 4, width), dtype)
            out[0, 3] = self.starts[first, pupils]
        # The day before's [run, unexplained run, since], stepped to each day's in turn.
        before = self._tables[first - 1, :3][:, pupils] if first > 0 else np.zeros((3, width), dtype)
        was_absent = before[0] > 0
        block = min(days, _BLOCK_DAYS)
        absent, unexplained, some, started = (np.empty((block, width), bool) for _ in range(4))
        scratch, in_span = (
            np.empty((block, 2 * width), np.uint8),
            np.empty((block, 2 * width), bool),
        )
        # What each day's [run, unexplained run, since] is multiplied by: [absent, unexplained,
        # absent] (0 ends a run).
        factors = np.empty((block, 3, width), dtype)
        # The flags as ``dtype`` (to step the runs with): the booleans' own bytes for one byte.
        as_bytes = dtype == np.uint8
        some_n, started_n = (
            flag.view(np.uint8) if as_bytes else np.empty((block, width), dtype)
            for flag in (some, started)
        )
        # What is added to the day before's: [1, 1, step], step 1 once counting since an N or O.
        addend, ones = np.ones((3, width), dtype), np.ones(width, dtype)
        step, since_before = addend[2], before[2]
        for b0 in range(0, days, block):
            n = min(block, days - b0)
            sessions = pairs[b0 : b0 + n].view(np.uint8)  # each pupil's AM and PM codes
            both = _in_span(sessions, _ABSENT_IDS, scratch[:n], in_span[:n])
            np.equal(both, _BOTH, out=absent[:n])
            both = _in_span(sessions, _UNEXPLAINED_IDS, scratch[:n], in_span[:n])
            np.equal(both, _BOTH, out=unexplained[:n])
            np.not_equal(both, 0, out=some[:n])
            # A day of absence after one that was not starts an episode (its run is 1).
            np.greater(absent[0], was_absent, out=started[0])
            np.greater(absent[1:n], absent[: n - 1], out=started[1:n])
            was_absent = absent[n - 1].copy()
            for row, flag in ((0, absent), (1, unexplained), (2, absent)):
                np.copyto(factors[:n, row], flag[:n], casting="unsafe")
            if not as_bytes:
                np.copyto(some_n[:n], some[:n], casting="unsafe")
                np.copyto(started_n[:n], started[:n], casting="unsafe")
            # (Rows taken by iterating: numpy's indexing by a tuple costs as much as a step.)
            steps = zip(
                out[b0 : b0 + n, :3],
                factors[:n],
                some_n[:n],
                started_n[:n],
                out[b0 : b0 + n, 3],
                out[b0 + 1 : b0 + n + 1, 3],
                strict=True,
            )
            for day, factor, some_today, started_today, starts_before, starts in steps:
                # Counting from the run's first day with an N or O: one more on each day of
                # absence once counting (``since > 0``), and the count starts (at 1) that day.
                # (A minimum against a row of ones: against the scalar 1, numpy's costs 6 times
                # as much.)
                np.bitwise_or(since_before, some_today, out=step)
                np.minimum(step, ones, out=step)
                np.add(before, addend, out=day)
                np.multiply(day, factor, out=day)
                np.add(starts_before, started_today, out=starts)
                before, since_before = day, day[2]
        if not isinstance(pupils, slice):
            self._tables[first : first + days, :3, pupils] = out[:days, :3]
            self.starts[first + 1 : first + days + 1, pupils] = out[1:, 3]

    # -- asking (every pupil, at the end of one school day) ------------------------------------

    def current_run(self, day: int) -> FloatArray:
        """School days of the episode of absence that holds ``day`` so far (0: not absent)."""
        run: FloatArray = self.absence_run[day].astype(np.float64)
        return run

    def unexplained_days(self, day: int) -> FloatArray:
        """Unexplained school days in a row ending with ``day``."""
        run: FloatArray = self.unexplained_run[day].astype(np.float64)
        return run

    def days_since_first_unexplained(self, day: int) -> FloatArray:
        """School days from the first day with an ``N``/``O`` session of the episode holding
        ``day`` to ``day`` (0: that day is today); NaN when no episode holds ``day`` or the
        episode has no such session."""
        since = self.since_unexplained[day]
        out: FloatArray = since - 1.0
        out[since == 0] = np.nan
        return out

    def episodes_between(self, first: int, day: int) -> FloatArray:
        """Episodes with a day in ``first..day``: those starting there, and one already running
        on ``first`` (begun on an earlier school day)."""
        # (The running count of starts never falls: the difference is never negative.)
        started = self.starts[day + 1] - self.starts[first]
        episodes: FloatArray = np.add(started, self.absence_run[first] >= 2, dtype=np.float64)
        return episodes


class LastDayRuns:
    """The runs of absence at the end of the last day counted only, with ``EpisodeRuns``'
    questions, for one day's facts (``facts_as_of``) that ask them of that day alone.

    ``EpisodeRuns`` steps every pupil's runs day by day through the year (a few numpy calls a
    day: most of a day's facts counted from nothing); here they are read off the day's own
    runs: only the pupils absent that day have one, and the episodes of a window are the days
    of absence after a day that was not. Filled once, every pupil from the first school day.
    """

    def __init__(self) -> None:
        self._pairs: npt.NDArray[np.uint16] | None = None
        self._day = -1

    def fill(
        self, pupils: slice | npt.NDArray[np.intp], first: int, pairs: npt.NDArray[np.uint16]
    ) -> None:
        """Days ``0..`` of every pupil, as ``EpisodeRuns.fill`` is given them."""
        if not isinstance(pupils, slice) or first != 0 or self._pairs is not None:
            raise ValueError("one day's runs are counted once, every pupil from the first day")
        self._pairs, self._day = pairs, pairs.shape[0] - 1
        days, width = pairs.shape
        # Only the pupils absent on the day have a run ending there: their own days, pupil-major.
        today = _days_in_span(pairs[-1:], _ABSENT_IDS)[0]
        pupils_absent = np.flatnonzero(today)
        own = pairs.T[pupils_absent]
        runs = np.zeros((3, width), np.int64)
        absent = _days_in_span(own, _ABSENT_IDS)
        run = _trailing(absent, days)
        runs[0, pupils_absent] = run
        runs[1, pupils_absent] = _trailing(_days_in_span(own, _UNEXPLAINED_IDS), days)
        # Counting from the run's first day with an N or O session (1 on that day).
        some = _days_in_span(own, _UNEXPLAINED_IDS, both=False)
        some &= np.arange(days) >= (days - run)[:, None]
        first_some = some.argmax(axis=1)
        found = some[np.arange(first_some.size), first_some]
        runs[2, pupils_absent] = np.where(found, days - first_some, 0)
        self._runs = runs

    def make_room(self, n_days: int) -> None:
        raise ValueError("one day's runs are not extended")

    def _check(self, day: int) -> None:
        if day != self._day:
            raise ValueError(f"runs of absence are counted for school day {self._day} only")

    def current_run(self, day: int) -> FloatArray:
        """``EpisodeRuns.current_run``."""
        self._check(day)
        run: FloatArray = self._runs[0].astype(np.float64)
        return run

    def unexplained_days(self, day: int) -> FloatArray:
        """``EpisodeRuns.unexplained_days``."""
        self._check(day)
        run: FloatArray = self._runs[1].astype(np.float64)
        return run

    def days_since_first_unexplained(self, day: int) -> FloatArray:
        """``EpisodeRuns.days_since_first_unexplained``."""
        self._check(day)
        since = self._runs[2]
        out: FloatArray = since - 1.0
        out[since == 0] = np.nan
        return out

    def episodes_between(self, first: int, day: int) -> FloatArray:
        """``EpisodeRuns.episodes_between``: a window's days of absence after a day that was not,
        and its first day if absent (an episode begun on it or running into it)."""
        self._check(day)
        assert self._pairs is not None
        absent = _days_in_span(self._pairs[first : day + 1], _ABSENT_IDS)
        started = np.greater(absent[1:], absent[:-1]).sum(axis=0)
        episodes: FloatArray = np.add(started, absent[0], dtype=np.float64)
        return episodes


def _days_in_span(
    pairs: npt.NDArray[np.uint16], span: tuple[int, int], *, both: bool = True
) -> npt.NDArray[np.bool_]:
    """Per day's pair of code ids, whether both sessions (or one, ``both=False``) are in
    ``span``."""
    sessions = pairs.view(np.uint8) if pairs.flags.c_contiguous else _as_bytes(pairs)
    scratch = np.empty(sessions.shape, np.uint8)
    flags = np.empty(sessions.shape, bool)
    in_span = _in_span(sessions, span, scratch, flags)
    return np.equal(in_span, _BOTH) if both else np.not_equal(in_span, 0)


def _as_bytes(pairs: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = np.ascontiguousarray(pairs).view(np.uint8)
    return out


def _trailing(flags: npt.NDArray[np.bool_], days: int) -> IntArray:
    """``(pupils, days)``: the days in a row at the end of each pupil's that hold."""
    other = ~flags[:, ::-1]
    trailing: IntArray = np.where(other.any(axis=1), other.argmax(axis=1), days)
    return trailing
