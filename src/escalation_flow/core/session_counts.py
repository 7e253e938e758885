"""Cumulative session counts: any window of sessions, for every pupil, in O(pupils).

For each pupil and each counted thing (attended, authorised, unauthorised, unmarked, ``L``,
``U``, ``N``, ``I``, ``M``, ``G``, absences on Mondays and on Fridays) we keep the running count
along school days; the count over days ``a..b`` is ``C[b + 1] - C[a]``. A window that starts with
a PM or ends with an AM session adds or takes off that one session, looked up on its own.

The counts are packed several to a 64-bit word (``packed_counts``: the keys, the word layout
and a window's counts read back out).

Sessions outside a pupil's roll (before admission, after leaving) count as nothing at all.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.episodes import EpisodeRuns, LastDayRuns
from escalation_flow.core.packed_counts import (
    N_IDS,
    OUTSIDE_ID,
    Key,
    KeyRows,
    WindowCounts,
    Words,
    day_classes,
    day_pairs,
    indicators,
    packing_of,
)
from escalation_flow.core.register import RegisterGrid

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolGrid: TypeAlias = npt.NDArray[np.bool_]


def _single_codes() -> dict[Key, int]:
    """The keys that count exactly one register code, on any day (``N``, ``L``, ``I``, ...):
    read off the indicator table, so the table stays the one definition."""
    table = indicators().reshape(len(Key), -1, N_IDS)
    out: dict[Key, int] = {}
    for key in Key:
        ids = np.flatnonzero(table[key, 0])
        if ids.size == 1 and (table[key] == table[key, 0]).all():
            out[key] = int(ids[0])
    return out


_SINGLE_CODE = _single_codes()
#: ``[key, day_class * N + id]``: whether a session with that code counts for the key
_COUNTS_CODE = indicators()
_COUNTS_CODE.flags.writeable = False


#: Earlier days' figures kept with a school's counts (``CumulativeCounts.by_day``): a thousand
#: pupils' facts for one day are about 0.6 MB
_BY_DAY = 64


class CumulativeCounts:
    """Running counts of one ``RegisterGrid`` through school day ``through_day`` (inclusive).

    Build it through the last day you will ask about; ``extend_to`` and ``refresh`` keep it in step
    with a grid that changes in place (the known-at timeline).
    """

    def __init__(
        self,
        grid: RegisterGrid,
        calendar: SchoolCalendar,
        *,
        through_day: int | None = None,
        runs_of_last_day_only: bool = False,
    ) -> None:
        """``runs_of_last_day_only``: the runs of absence of ``through_day`` alone
        (``LastDayRuns``), for counts asked about that one day and never extended or refreshed."""
        if grid.n_sessions != calendar.n_sessions:
            raise ValueError("the grid was built on another calendar")
        self.grid = grid
        self.calendar = calendar
        self.packing = packing_of(calendar.n_sessions)
        self.through_day = -1
        self._day_class = day_classes(calendar)
        self._bounded = not grid.enrolment.whole_calendar
        self._rows = np.arange(grid.n_pupils)
        through = calendar.n_days - 1 if through_day is None else through_day
        #: ``[word, d, pupil]``: packed counts over days ``0..d - 1``. Every pupil's count at one
        #: day lies side by side, as the day's facts and screens read them (a day at a time).
        #: Rows for the days counted only: the first extension beyond them makes room for the
        #: whole calendar (rows never read cost the kernel's clearing of fresh memory and ours).
        self._c = np.empty((self.packing.words, through + 2, grid.n_pupils), np.uint64)
        self._c[:, 0] = 0
        #: Per pupil, the first session counted so far that is marked ``N`` (-1: none).
        self._first_n = np.full(grid.n_pupils, -1, dtype=np.int64)
        self._counts_code = _COUNTS_CODE
        #: The runs of unauthorised days ending on ``_runs_day`` (-1: a pupil's earlier marks
        #: changed since), so that the next day's are yesterday's plus one.
        self._runs = np.full(grid.n_pupils, -1, dtype=np.int64)
        self._runs_day = -2
        #: Figures a caller worked out from these counts for one earlier school day, by a key
        #: whose first item is that day (``DayEnv.on_day``): kept from evening to evening while
        #: no recount reaches that day (``refresh`` drops those of its day and after); at most
        #: ``_BY_DAY``, the oldest kept dropped first.
        self.by_day: dict[tuple[int, int], Any] = {}
        self._age_sessions: tuple[IntArray, IntArray] | None = None
        self._not_of_age_throughout: npt.NDArray[np.intp] | None = None
        #: runs of days of absence (episodes), filled with the counts
        self.episodes: EpisodeRuns | LastDayRuns = (
            LastDayRuns()
            if runs_of_last_day_only
            else EpisodeRuns(calendar.n_days, grid.n_pupils, filled_through=through)
        )
        self.extend_to(through)

    def sessions_of_compulsory_age(self) -> tuple[IntArray, IntArray]:
        """Per pupil, the first session of compulsory school age and the session after the
        last (from the roster's dates of birth; read once)."""
        if self._age_sessions is None:
            enrolment = self.grid.enrolment
            days = np.fromiter((d.toordinal() for d in self.calendar.school_days), np.int64)
            first = 2 * np.searchsorted(days, enrolment.school_age_from, side="left")
            after = 2 * np.searchsorted(days, enrolment.school_age_until, side="right")
            self._age_sessions = first.astype(np.int64), after.astype(np.int64)
        return self._age_sessions

    def pupils_not_of_age_throughout(self) -> npt.NDArray[np.intp]:
        """The pupils whose compulsory school age begins after the calendar's first session or
        ends before its last: every other pupil is of that age on every school day."""
        if self._not_of_age_throughout is None:
            first, after = self.sessions_of_compulsory_age()
            self._not_of_age_throughout = np.flatnonzero(
                (first > 0) | (after < self.calendar.n_sessions)
            )
        return self._not_of_age_throughout

    def unauthorised_of_compulsory_age(self, start: int, stop: int, whole: IntArray) -> IntArray:
        """Per pupil, the unauthorised sessions of ``start..stop - 1`` on which they were of
        compulsory school age, given ``whole``, the count over all of them: only the pupils whose
        age begins or ends within are counted apart (``whole`` itself when there are none)."""
        first_of_age, after_of_age = self.sessions_of_compulsory_age()
        maybe = self.pupils_not_of_age_throughout()
        cut = maybe[(first_of_age[maybe] > start) | (after_of_age[maybe] < stop)]
        if not cut.size:
            return whole
        of_age = whole.copy()
        ends = np.minimum(stop, after_of_age[cut])
        starts = np.minimum(np.maximum(start, first_of_age[cut]), ends)  # never of age: empty
        key = Key.UNAUTHORISED
        of_age[cut] = self.running_count_at(key, cut, ends) - self.running_count_at(
            key, cut, starts
        )
        return of_age

    def of_compulsory_age_on(self, day: int) -> npt.NDArray[np.bool_]:
        """Per pupil, whether school day ``day`` falls within their compulsory school age."""
        out = np.ones(self.grid.n_pupils, dtype=bool)
        maybe = self.pupils_not_of_age_throughout()
        if maybe.size:
            first, after = self.sessions_of_compulsory_age()
            session = 2 * day
            out[maybe] = (first[maybe] <= session) & (session < after[maybe])
        return out

    @property
    def last_session(self) -> int:
        """The last session counted."""
        return 2 * self.through_day + 1

    # -- keeping up with the grid ---------------------------------------------------------------

    def extend_to(self, day: int) -> None:
        """Count the days after ``through_day`` through ``day`` for every pupil."""
        first = self.through_day + 1
        if day < first:
            return
        if day >= self.calendar.n_days:
            raise ValueError(f"school day {day} is beyond the calendar")
        if day + 2 > self._c.shape[1]:
            self._make_room()
        self._fill(slice(None), first, day)
        self.through_day = day
        self._note_first_n(np.flatnonzero(self._first_n < 0), 2 * first)

    def _make_room(self) -> None:
        """Rows for every day of the calendar, the days counted so far copied over."""
        kept = self.through_day + 2
        table = np.empty((self._c.shape[0], self.calendar.n_days + 1, self._c.shape[2]), np.uint64)
        table[:, :kept] = self._c[:, :kept]
        self._c = table
        self.episodes.make_room(self.calendar.n_days)

    def refresh(self, pupils: npt.NDArray[np.intp], from_day: int = 0) -> None:
        """Recount these pupils' rows through ``through_day`` (their past marks changed, none
        before school day ``from_day``: the counts up to it stand)."""
        if pupils.size and self.through_day >= 0:
            self._fill(pupils, min(max(from_day, 0), self.through_day), self.through_day)
            self._first_n[pupils] = -1
            self._note_first_n(pupils, 0)
            self._runs[pupils] = -1
            if self.by_day:
                self.by_day = {k: v for k, v in self.by_day.items() if k[0] < from_day}

    def keep_by_day(self, key: tuple[int, int], value: Any) -> None:
        """Keep ``value`` in ``by_day``."""
        if len(self.by_day) >= _BY_DAY:
            del self.by_day[next(iter(self.by_day))]
        self.by_day[key] = value

    def _note_first_n(self, pupils: npt.NDArray[np.intp], first_session: int) -> None:
        """Find the first ``N`` from ``first_session`` on for pupils who had none before it."""
        last = self.last_session
        # Both ends are the start of a day (``first_session`` is a day's AM; ``last`` a PM), so
        # the counts are two columns of the table: read them, not gathered pupil by pupil.
        assert first_session % 2 == 0, first_session
        column = self._c[self.packing.word[Key.N]]
        new = column[last // 2 + 1].take(pupils) - column[first_session // 2].take(pupils)
        pupils = pupils[self.packing.unpack(new, Key.N) > 0]
        self._first_n[pupils] = self._search_first(Key.N, pupils, first_session, last)

    def _fill(self, pupils: slice | npt.NDArray[np.intp], first: int, last: int) -> None:
        """Count days ``first..last`` of ``pupils`` on the counts through ``first - 1``."""
        pairs = self._day_pairs(pupils, first, last)
        self.episodes.fill(pupils, first, pairs)
        classes = self._day_class[first : last + 1]
        if isinstance(pupils, slice):
            # Every pupil: day by day, each day's row looked up and added to the day before's,
            # straight into the table (rows of the table are contiguous: no transposing copy).
            index = np.empty(pairs.shape[1], np.intp)  # numpy's take casts to this on each call
            # (Each word's tables and rows found once: numpy's indexing by a tuple costs as much
            # as a lookup.)
            words = [
                ([*self.packing.pair[w]], self._c[w, first + 1 :], self._c[w, first:])
                for w in range(self.packing.words)
            ]
            for k, (day_pairs_k, day_class) in enumerate(zip(pairs, classes.tolist(), strict=True)):
                index[:] = day_pairs_k
                for tables, after, before in words:
                    row = after[k]
                    tables[day_class].take(index, out=row, mode="clip")
                    row += before[k]
            return
        # A few pupils (marks changed): along each pupil's days, then scattered into the table.
        index = pairs.T.astype(np.intp)
        index += classes * self.packing.pair.shape[2]
        for w in range(self.packing.words):
            counts = self._c[w]
            flat = self.packing.pair[w].reshape(-1)
            running = np.cumsum(flat.take(index), axis=1, dtype=np.uint64)
            if first > 0:
                running += counts[first, pupils][:, None]
            counts[first + 1 : last + 2, pupils] = running.T

    def _day_pairs(
        self, pupils: slice | npt.NDArray[np.intp], first: int, last: int
    ) -> npt.NDArray[np.uint16]:
        """``(days, pupils)``: days ``first..last`` of ``pupils`` as pairs of code ids
        (``packed_counts.day_pairs``), sessions off the pupil's roll as the off-roll id."""
        lo, hi = 2 * first, 2 * last + 1
        codes = self.grid.codes[pupils, lo : hi + 1]
        if not self._bounded:
            return day_pairs(codes)
        enrolment = self.grid.enrolment
        rows = np.arange(self.grid.n_pupils)[pupils]
        # Only the pupils whose roll starts or ends within these days are touched.
        cut = np.flatnonzero(
            (enrolment.first_session[rows] > lo) | (enrolment.last_session[rows] < hi)
        )
        if isinstance(pupils, slice):
            pairs = day_pairs(codes)
            if cut.size:
                own = codes[cut]  # a copy: the grid stays as read
                own[enrolment.outside(lo, hi, rows[cut])] = OUTSIDE_ID
                pairs[:, cut] = day_pairs(own)
            return pairs
        if cut.size:  # ``codes`` is a copy already (read through an index array)
            within = codes[cut]
            within[enrolment.outside(lo, hi, rows[cut])] = OUTSIDE_ID
            codes[cut] = within
        return day_pairs(codes)

    def _session_index(self, pupils: npt.NDArray[np.intp], sessions: IntArray) -> IntArray:
        """Per (pupil, session) pair, the column of ``Packing.session`` to read."""
        codes = self.grid.codes[pupils, sessions].astype(np.int64)
        if self._bounded:
            enrolment = self.grid.enrolment
            off = (sessions < enrolment.first_session[pupils]) | (
                sessions > enrolment.last_session[pupils]
            )
            codes[off] = OUTSIDE_ID
        index: IntArray = self._day_class[sessions // 2] * N_IDS + codes
        return index

    def _sessions(self, pupils: npt.NDArray[np.intp], sessions: IntArray) -> Words:
        """``(words, len(pupils))``: the packed counts of one session per pupil."""
        return self.packing.session[:, self._session_index(pupils, sessions)]

    # -- asking ---------------------------------------------------------------------------------

    def running(self, sessions: IntArray | int) -> Words:
        """``(words, pupils)``: packed counts over sessions ``0..s - 1`` (``s`` per pupil)."""
        if isinstance(sessions, (int, np.integer)):
            s = int(sessions)
            out: Words = self._c[:, s // 2]
            if s % 2:
                out = out + self.packing.session[:, self._column_index(s - 1)]
            return out
        return self._running_at(self._rows, np.asarray(sessions, dtype=np.int64))

    def _column_index(self, session: int) -> IntArray:
        """``_session_index`` of one session for every pupil, read as a column of the grid."""
        codes = self.grid.codes[:, session].astype(np.int64)
        if self._bounded:
            enrolment = self.grid.enrolment
            codes[(session < enrolment.first_session) | (session > enrolment.last_session)] = (
                OUTSIDE_ID
            )
        index: IntArray = codes + int(self._day_class[session // 2]) * N_IDS
        return index

    def _running_at(self, pupils: npt.NDArray[np.intp], sessions: IntArray) -> Words:
        out = self._gather(slice(None), pupils, sessions // 2)
        odd = np.flatnonzero(sessions % 2)
        if odd.size:
            out[:, odd] += self._sessions(pupils[odd], sessions[odd] - 1)
        return out

    def _gather(
        self, words: slice | int, pupils: npt.NDArray[np.intp], days: IntArray
    ) -> Words:
        """``self._c[words, days, pupils]`` as one ``take`` on flat indices (numpy's indexing
        with two index arrays costs several times as much)."""
        width = self._c.shape[2]
        flat = self._c.reshape(self._c.shape[0], -1)[words]
        out: Words = flat.take(days * width + pupils, axis=-1)
        return out

    def fields_over_days(
        self, rows: KeyRows, first_days: IntArray, after_days: IntArray
    ) -> IntArray:
        """``(len(rows), pupils)``: row ``i`` the count of the ``i``-th key of ``rows`` over
        school days ``first_days[i]..after_days[i] - 1`` (``first <= after``), every pupil.

        One gather of whole rows of the table for every window and key a day's facts read (a
        few dozen), where a window at a time paid numpy's cost per call a dozen times over."""
        if after_days.size and int(after_days.max()) > self.through_day + 1:
            self._check(2 * int(after_days.max()) - 1)
        n_words, width, n_pupils = self._c.shape
        flat = self._c.reshape(n_words * width, n_pupils)  # not -1: no pupils is size 0
        base = rows.word * width
        words: Words = flat.take(base + after_days, axis=0)
        words -= flat.take(base + first_days, axis=0)  # no field borrows: see packed_counts
        for first, stop, shift in rows.runs:
            words[first:stop] >>= shift
        words &= self.packing.mask
        return words.view(np.int64)

    def key_rows(self) -> npt.NDArray[np.uint16] | None:
        """``(keys * (through_day + 2), pupils)``: each key's running counts unpacked, row
        ``key * (through_day + 2) + d`` its count over days ``0..d - 1`` (None when a count can
        exceed ``uint16``). A copy as the counts now stand: for a caller reading many days of
        counts it no longer extends or refreshes (``facts_for_all_days``), whose rows of two
        bytes are gathered without shifts or masks."""
        if self.calendar.n_sessions >= 2**16:
            return None
        width = self.through_day + 2
        out = np.empty((len(Key), width, self.grid.n_pupils), np.uint16)
        word = np.empty((width, self.grid.n_pupils), np.uint64)
        for key in Key:
            np.right_shift(
                self._c[self.packing.word[key], :width], self.packing.shift[key], out=word
            )
            word &= self.packing.mask
            out[key] = word
        return out.reshape(len(Key) * width, self.grid.n_pupils)

    def pupil_attendance_pct(
        self, pupil: int, first_session: int, last_session: int, *, min_possible_sessions: int
    ) -> float:
        """``pupil_counts_between(...).attendance_pct(...)[0]`` in plain Python: a review timer
        firing asks this for one pupil, where numpy's cost per call is all there is."""
        self._check(last_session)
        first = min(max(first_session, 0), last_session + 1)
        end = self._pupil_running(pupil, last_session + 1)
        start = self._pupil_running(pupil, first)
        window = [e - s for e, s in zip(end, start, strict=True)]  # no field borrows: see above
        attended = self._field_of(window, Key.ATTENDED)
        absent = self._field_of(window, Key.AUTHORISED) + self._field_of(window, Key.UNAUTHORISED)
        possible = attended + absent
        if possible < max(1, min_possible_sessions):
            return float("nan")
        return 100.0 * attended / possible  # the same float operations as attendance_percent

    def _pupil_running(self, pupil: int, session: int) -> list[int]:
        """One pupil's packed counts over sessions ``0..session - 1``, as Python ints."""
        words: list[int] = self._c[:, session // 2, pupil].tolist()
        if session % 2:
            s = session - 1
            code = int(self.grid.codes[pupil, s])
            enrolment = self.grid.enrolment
            if self._bounded and not (
                enrolment.first_session[pupil] <= s <= enrolment.last_session[pupil]
            ):
                code = OUTSIDE_ID
            column = int(self._day_class[s // 2]) * N_IDS + code
            one: list[int] = self.packing.session[:, column].tolist()
            words = [w + x for w, x in zip(words, one, strict=True)]
        return words

    def _field_of(self, words: list[int], key: Key) -> int:
        packing = self.packing
        return (words[packing.word[key]] >> packing.shift[key]) & int(packing.mask)

    def counts_between(
        self, first_session: npt.NDArray[np.integer] | int, last_session: int
    ) -> WindowCounts:
        """Counts over sessions ``first..last`` inclusive; ``first`` may differ per pupil.

        A window that is empty for a pupil (``first > last``) counts nothing.
        """
        self._check(last_session)
        if isinstance(first_session, (int, np.integer)):
            first: IntArray | int = min(max(int(first_session), 0), last_session + 1)
        else:
            first = np.clip(np.asarray(first_session, dtype=np.int64), 0, last_session + 1)
        return WindowCounts(self.packing, self.running(last_session + 1), self.running(first))

    def windows_of(
        self, pupils: npt.NDArray[np.intp], first_sessions: IntArray, last_sessions: IntArray
    ) -> WindowCounts:
        """Counts over sessions ``first..last`` for each (pupil, first, last), every window
        already counted and not empty: one gather for windows that end on different days (a
        figure at each pupil's stage entry), in place of one pass over every pupil per day."""
        end = self._running_at(pupils, last_sessions + 1)
        return WindowCounts(self.packing, end, self._running_at(pupils, first_sessions))

    def pupil_counts_between(self, pupil: int, first_session: int, last_session: int) -> WindowCounts:
        """One pupil's counts over sessions ``first..last``, without touching the other pupils
        (a review timer firing asks this for one case)."""
        self._check(last_session)
        rows = np.array([pupil], dtype=np.intp)
        first = min(max(first_session, 0), last_session + 1)
        end = self._running_at(rows, np.array([last_session + 1], dtype=np.int64))
        start = self._running_at(rows, np.array([first], dtype=np.int64))
        return WindowCounts(self.packing, end - start)

    def attendance_pct_between(
        self,
        first_session: npt.NDArray[np.integer] | int,
        last_session: int,
        *,
        min_possible_sessions: int,
    ) -> FloatArray:
        window = self.counts_between(first_session, last_session)
        return window.attendance_pct(min_possible_sessions=min_possible_sessions)

    def running_count_at(
        self, key: Key, pupils: npt.NDArray[np.intp], sessions: IntArray
    ) -> IntArray:
        """The count of ``key`` over sessions ``0..s - 1`` for each (pupil, ``s``) pair."""
        return self.packing.unpack(self._running_word(key, pupils, sessions), key)

    def _running_word(self, key: Key, pupils: npt.NDArray[np.intp], sessions: IntArray) -> Words:
        """Like ``_running_at`` but only the word that holds ``key`` (the searches' hot path)."""
        word = self.packing.word[key]
        out = self._gather(word, pupils, sessions // 2)
        odd = np.flatnonzero(sessions % 2)
        if odd.size:
            index = self._session_index(pupils[odd], sessions[odd] - 1)
            out[odd] += self.packing.session[word, index]
        return out

    def first_session_with(self, key: Key, last_session: int) -> IntArray:
        """Per pupil, the first session ``<= last_session`` that counts for ``key`` (-1: none)."""
        self._check(last_session)
        if key is Key.N:
            first = self._first_n
            return np.where(first <= last_session, first, -1)
        total = self.counts_between(0, last_session).count(key)
        pupils = np.flatnonzero(total > 0)
        out = np.full(self.grid.n_pupils, -1, dtype=np.int64)
        out[pupils] = self._search_first(key, pupils, 0, last_session)
        return out

    def _search_first(
        self, key: Key, pupils: npt.NDArray[np.intp], first: int, last: int
    ) -> IntArray:
        """For pupils with a ``key`` session in ``first..last`` (and none before), the first one:
        the smallest ``s`` in ``first..last`` with ``count(0..s) >= 1`` (``last`` if none).

        Read off the pupils' rows of the grid at once: they are few (those with a new ``N``, or
        whose marks changed), and a binary search over the running counts costs a round of
        numpy calls per halving."""
        if not pupils.size or first >= last:
            return np.full(pupils.size, first, dtype=np.int64)
        counted = self._counted(key, self._all_or(pupils), first, last)
        at = counted.argmax(axis=1)
        # argmax is 0 where nothing counts, too: whether the session found counts tells them apart
        found = np.where(counted[np.arange(at.size), at], first + at, last)
        if first > 0:
            before = self.running_count_at(key, pupils, np.full(pupils.size, first)) >= 1
            found = np.where(before, first, found)
        return found.astype(np.int64)

    def _all_or(self, pupils: npt.NDArray[np.intp]) -> slice | npt.NDArray[np.intp]:
        """``pupils`` (increasing, distinct), or a slice when they are every pupil: the grid's
        rows are then read in place, not copied row by row (the first count of a school)."""
        n = self.grid.n_pupils
        if pupils.size == n and n and pupils[0] == 0 and pupils[-1] == n - 1:
            return slice(None)
        return pupils

    def _counted(
        self, key: Key, pupils: slice | npt.NDArray[np.intp], first: int, last: int
    ) -> BoolGrid:
        """``(pupils, sessions first..last)``: whether each session counts for ``key``."""
        single = _SINGLE_CODE.get(key)
        if single is not None:  # one code, any day: compare the grid's bytes, no table lookup
            same: BoolGrid = self.grid.codes[pupils, first : last + 1] == single
            if self._bounded:
                same &= ~self.grid.enrolment.outside(first, last, pupils)
            return same
        codes = self.grid.codes[pupils, first : last + 1].astype(np.intp)
        if self._bounded:
            codes[self.grid.enrolment.outside(first, last, pupils)] = OUTSIDE_ID
        days = np.arange(first, last + 1) // 2
        counted: BoolGrid = self._counts_code[key][self._day_class[days] * N_IDS + codes]
        return counted

    def unauthorised_days_ending(self, day: int, today: IntArray | None = None) -> IntArray:
        """Per pupil, school days in a row ending with ``day`` with both sessions unauthorised
        (``today``: each pupil's unauthorised sessions on ``day``, when the caller has them)."""
        end = 2 * day + 2
        self._check(end - 1)
        if today is None:
            today = self.counts_between(2 * day, end - 1).unauthorised
        pupils = np.flatnonzero(today == 2)
        out = np.zeros(self.grid.n_pupils, dtype=np.int64)
        if self._runs_day == day - 1:  # day after day (a timeline): yesterday's run and today
            yesterday = self._runs[pupils]
            known = yesterday >= 0
            out[pupils[known]] = yesterday[known] + 1
            pupils = pupils[~known]
        out[pupils] = self._unauthorised_runs(pupils, day)
        self._runs, self._runs_day = out.copy(), day
        return out

    def _unauthorised_runs(self, pupils: npt.NDArray[np.intp], day: int) -> IntArray:
        """For pupils with both of ``day``'s sessions unauthorised, the run ending that day."""
        # The run is the trailing unauthorised sessions read off the pupils' rows of the grid at
        # once (they are few: a new run, or marks changed), halved: a binary search over the
        # running counts cost a round of numpy calls per halving.
        end = 2 * day + 2
        if not pupils.size:
            return np.zeros(0, dtype=np.int64)
        other = ~self._counted(Key.UNAUTHORISED, pupils, 0, end - 1)[:, ::-1]
        trailing = np.where(other.any(axis=1), other.argmax(axis=1), end)
        runs: IntArray = (trailing // 2).astype(np.int64)
        return runs

    def _check(self, last_session: int) -> None:
        if last_session > self.last_session:
            raise ValueError(
                f"session {last_session} is not counted yet "
                f"(counted through school day {self.through_day})"
            )
