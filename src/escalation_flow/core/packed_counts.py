"""What a packed count means: the keys counted along sessions, how several counts share one
``uint64`` word, and the counts over one window read back out of packed words.

Why packed: a year of 20,000 pupils is 7.6 million cells and a dozen counts. Every count is at
most the calendar's number of sessions, so several fit side by side in one ``uint64`` (10 bits
each for two years of sessions). One table lookup and one cumulative sum per word then builds
all of them (``session_counts``), and because every field of a later running count is at least
the same field of an earlier one, one subtraction of words subtracts every field without
borrowing between them. Looking up a whole day (AM and PM codes together) halves the work again.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from functools import cache
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CATEGORY_OF_ID, CODE_OF_ID, ID_OF_CODE, Category

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
Words: TypeAlias = npt.NDArray[np.uint64]


class Key(IntEnum):
    """What is counted along sessions."""

    ATTENDED = 0
    AUTHORISED = 1
    UNAUTHORISED = 2
    UNMARKED = 3
    LATE_BEFORE_CLOSE = 4  # L
    LATE_AFTER_CLOSE = 5  # U
    N = 6
    ILLNESS = 7  # I
    MEDICAL = 8  # M
    HOLIDAY = 9  # G
    ABSENT_MONDAY = 10
    ABSENT_FRIDAY = 11


#: The code id of a session outside the pupil's roll: it counts as nothing.
OUTSIDE_ID = len(CODE_OF_ID)
#: How many code ids a lookup table has per day class (the register codes, and off roll).
N_IDS = OUTSIDE_ID + 1
_OTHER_DAY, _MONDAY, _FRIDAY = 0, 1, 2

_CODE_KEYS = {
    Key.LATE_BEFORE_CLOSE: "L",
    Key.LATE_AFTER_CLOSE: "U",
    Key.N: "N",
    Key.ILLNESS: "I",
    Key.MEDICAL: "M",
    Key.HOLIDAY: "G",
}


def indicators() -> npt.NDArray[np.bool_]:
    """``(keys, 3 * ids)``: whether a code on a (other day, Monday, Friday) session counts."""
    category = np.append(CATEGORY_OF_ID, -1)  # OUTSIDE_ID is in no category
    per_id = np.zeros((len(Key), N_IDS), dtype=bool)
    per_id[Key.ATTENDED] = (category == Category.PRESENT) | (category == Category.APPROVED_ACTIVITY)
    per_id[Key.AUTHORISED] = category == Category.AUTHORISED
    per_id[Key.UNAUTHORISED] = category == Category.UNAUTHORISED
    per_id[Key.UNMARKED] = category == Category.UNMARKED
    for key, code in _CODE_KEYS.items():
        per_id[key, ID_OF_CODE[code]] = True
    absent = per_id[Key.AUTHORISED] | per_id[Key.UNAUTHORISED]
    table = np.zeros((len(Key), 3 * N_IDS), dtype=bool)
    for day_class in (_OTHER_DAY, _MONDAY, _FRIDAY):
        part = table[:, day_class * N_IDS : (day_class + 1) * N_IDS]
        part[:] = per_id
        part[Key.ABSENT_MONDAY] = absent if day_class == _MONDAY else False
        part[Key.ABSENT_FRIDAY] = absent if day_class == _FRIDAY else False
    return table


class Packing:
    """Where each key lives (word, bit shift, mask) for counts up to ``max_count``, and the
    lookup tables from a session's or a day's codes to packed words."""

    def __init__(self, max_count: int) -> None:
        self.bits = max(1, int(max_count).bit_length())
        per_word = 64 // self.bits
        self.words = -(-len(Key) // per_word)
        self.word = [k // per_word for k in range(len(Key))]
        self.shift = [self.bits * (k % per_word) for k in range(len(Key))]
        self.mask = np.uint64((1 << self.bits) - 1)
        table = indicators()
        #: ``session[w, day_class * N + id]``: one session's packed counts.
        self.session = np.zeros((self.words, table.shape[1]), dtype=np.uint64)
        for k in range(len(Key)):
            self.session[self.word[k]] += table[k].astype(np.uint64) << np.uint64(self.shift[k])
        #: ``day[w, (day_class * N + am) * N + pm]``: a whole day's packed counts.
        by_class = self.session.reshape(self.words, 3, N_IDS)
        self.day = (by_class[:, :, :, None] + by_class[:, :, None, :]).reshape(self.words, -1)
        #: ``pair[w, day_class, pair]``: the same, by a day's two codes read as one ``uint16``
        #: (``day_pairs``), so that a register's bytes index it with no arithmetic.
        self.pair = np.zeros((self.words, 3, PAIR_SIZE), dtype=np.uint64)
        self.pair[:, :, PAIRS] = self.day.reshape(self.words, 3, N_IDS, N_IDS)
        self._rows: dict[tuple[Key, ...], KeyRows] = {}

    def rows_of(self, keys: tuple[Key, ...]) -> KeyRows:
        """Where each of ``keys`` lies (one entry per key, repeats allowed), to read many counts
        of many windows with one gather (``CumulativeCounts.fields_over_days``); kept."""
        rows = self._rows.get(keys)
        if rows is None:
            rows = self._rows[keys] = KeyRows(
                [self.word[k] for k in keys], [self.shift[k] for k in keys]
            )
        return rows

    def field(self, words: Words, key: Key) -> IntArray:
        """The count of ``key`` out of packed words (``words[word_of_key]``)."""
        return self.unpack(words[self.word[key]], key)

    def unpack(self, packed: Words, key: Key) -> IntArray:
        fields: Words = packed >> np.uint64(self.shift[key])
        fields &= self.mask
        # Every field is far below 2**63: the same numbers read as int64, without a copy.
        return fields.view(np.int64)


@cache
def packing_of(max_count: int) -> Packing:
    """The one ``Packing`` for counts up to ``max_count`` (its tables are read, never written:
    built once, not for every register counted)."""
    packing = Packing(max_count)
    for table in (packing.session, packing.day, packing.pair):
        table.flags.writeable = False
    return packing


class KeyRows:
    """A list of keys as their words, and as runs of rows that share a shift (a shift by one
    number is several times cheaper in numpy than by a column of them)."""

    def __init__(self, words: Sequence[int], shifts: Sequence[int]) -> None:
        #: ``(n,)``: the word of each key
        self.word = np.array(words, dtype=np.int64)
        #: ``(first, stop, shift)``: rows ``first..stop - 1`` shift by ``shift`` (none by 0)
        self.runs: list[tuple[int, int, np.uint64]] = []
        first = 0
        for i in range(1, len(shifts) + 1):
            if i == len(shifts) or shifts[i] != shifts[first]:
                if shifts[first]:
                    self.runs.append((first, i, np.uint64(shifts[first])))
                first = i


def _pairs() -> npt.NDArray[np.uint16]:
    """``[am, pm]``: the ``uint16`` that a day's two code ids (bytes) read as, in this machine's
    byte order."""
    ids = np.arange(N_IDS, dtype=np.uint8)
    both = np.stack(np.meshgrid(ids, ids, indexing="ij"), axis=-1)
    pairs: npt.NDArray[np.uint16] = np.ascontiguousarray(both).view(np.uint16)[..., 0]
    return pairs


#: ``PAIRS[am, pm]``: a day's pair of code ids as one ``uint16``; ``PAIR_SIZE``: tables indexed
#: by it hold this many entries (a few thousand: the ids are small).
PAIRS = _pairs()
PAIR_SIZE = int(PAIRS.max()) + 1


def day_pairs(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.uint16]:
    """``(days, pupils)``: each day's AM and PM codes (``codes[pupil, session]``, an even number
    of sessions from an AM) as one ``uint16`` per day, day-major: every pupil's day side by side,
    as the running counts keep them. (Transposed in blocks of pupils: numpy's own transpose of
    small items runs several times slower, missing the cache.)"""
    n_pupils = codes.shape[0]
    by_day = _pair_view(codes)
    out = np.empty((by_day.shape[1], n_pupils), dtype=np.uint16)
    for start in range(0, n_pupils, _TRANSPOSE_BLOCK):
        stop = start + _TRANSPOSE_BLOCK
        out[:, start:stop] = by_day[start:stop].T
    return out


_TRANSPOSE_BLOCK = 512


def _pair_view(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.uint16]:
    """A column slice of a grid read as pairs (its rows are contiguous; a copy if not)."""
    if codes.strides[1] != 1 or codes.strides[0] % 2:
        codes = np.ascontiguousarray(codes)
    return codes.view(np.uint16)


def day_classes(calendar: SchoolCalendar) -> npt.NDArray[np.intp]:
    """Each school day's class in the lookup tables: Monday, Friday or another day."""
    weekdays = np.array([d.weekday() for d in calendar.school_days], dtype=np.intp)
    return np.where(weekdays == 0, _MONDAY, np.where(weekdays == 4, _FRIDAY, _OTHER_DAY))


class WindowCounts:
    """Counts over one window of sessions (per pupil; the window may start differently for each).

    Made of the window's packed words, or of the running counts at its end and at its start
    (``start``): then each word is subtracted when a count in it is first read (most windows
    read one word of two).
    """

    def __init__(self, packing: Packing, words: Words, start: Words | None = None) -> None:
        self._packing = packing
        self._end, self._start = words, start
        self._words: dict[int, Words] = {}
        # Each count unpacked once: ``possible`` and the percentages read ``attended`` again.
        self._counts: dict[Key, IntArray] = {}

    def _word(self, word: int) -> Words:
        words = self._words.get(word)
        if words is None:
            end = self._end[word]
            words = self._words[word] = end if self._start is None else end - self._start[word]
        return words

    def count(self, key: Key) -> IntArray:
        counted = self._counts.get(key)
        if counted is None:
            packing = self._packing
            counted = self._counts[key] = packing.unpack(self._word(packing.word[key]), key)
        return counted

    @property
    def attended(self) -> IntArray:
        return self.count(Key.ATTENDED)

    @property
    def authorised(self) -> IntArray:
        return self.count(Key.AUTHORISED)

    @property
    def unauthorised(self) -> IntArray:
        return self.count(Key.UNAUTHORISED)

    @property
    def absence(self) -> IntArray:
        return self.authorised + self.unauthorised

    @property
    def possible(self) -> IntArray:
        """Sessions that count: attended or absent; never unmarked, not-possible or off roll."""
        return self.attended + self.absence

    @property
    def unmarked(self) -> IntArray:
        return self.count(Key.UNMARKED)

    @property
    def late(self) -> IntArray:
        """``L`` and ``U``: arrived before or after the register closed."""
        return self.count(Key.LATE_BEFORE_CLOSE) + self.count(Key.LATE_AFTER_CLOSE)

    def attendance_pct(self, *, min_possible_sessions: int) -> FloatArray:
        return attendance_percent(self.attended, self.possible, min_possible_sessions)


#: The bits of the float ``2.0**52``: with an integer below ``2**52`` in its low bits, the float
#: ``2**52 + that integer``, exactly.
_TWO_52_BITS = np.uint64(0x4330000000000000)


def as_float(counts: IntArray) -> FloatArray:
    """Counts (never negative, below ``2**52``) as floats, exactly as ``astype`` gives them: each
    count put in the mantissa of ``2.0**52``, less ``2.0**52``. (Two vector operations: numpy's
    own conversion of 64-bit integers costs several times as much without AVX-512.)"""
    if counts.dtype != np.int64 and counts.dtype != np.uint64:
        return counts.astype(np.float64)
    floats: FloatArray = (counts.view(np.uint64) | _TWO_52_BITS).view(np.float64)
    floats -= 2.0**52
    return floats


def attendance_percent(
    attended: IntArray, possible: IntArray, min_possible_sessions: int
) -> FloatArray:
    """``100 * attended / possible``; NaN (unknown) below ``min_possible_sessions`` or at 0."""
    # Divided by NaN where too few: the same figures as a division only where enough, without
    # numpy's masked division (several times slower).
    denominator = as_float(possible)
    denominator[possible < max(1, min_possible_sessions)] = np.nan
    out = as_float(attended)
    out *= 100.0
    out /= denominator
    return out
