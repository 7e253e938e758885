"""Counts read back out of packed words give the same floats as numpy's own conversions and
divisions, bit for bit (the backtest's bytes depend on them)."""

from __future__ import annotations

import numpy as np

from escalation_flow.core.packed_counts import (
    Key,
    Packing,
    WindowCounts,
    as_float,
    attendance_percent,
)


def test_counts_as_floats_are_numpys_own_conversion_bit_for_bit() -> None:
    counts = np.array([0, 1, 2, 9, 10, 379, 380, 2**20, 2**40 + 7, 2**52 - 1], dtype=np.int64)
    assert as_float(counts).tobytes() == counts.astype(np.float64).tobytes()
    assert as_float(counts.view(np.uint64)).tobytes() == counts.astype(np.float64).tobytes()
    small = np.array([3, 4], dtype=np.int32)  # not 64-bit: converted as numpy converts
    assert as_float(small).tobytes() == small.astype(np.float64).tobytes()


def test_attendance_is_unknown_below_the_minimum_and_otherwise_numpys_division() -> None:
    rng = np.random.default_rng(2)
    possible = rng.integers(0, 400, 5000)
    attended = (possible * rng.random(5000)).astype(np.int64)
    for minimum in (0, 1, 10, 40):
        expected = np.full(possible.shape, np.nan)
        enough = possible >= max(1, minimum)
        np.divide(100.0 * attended, possible, out=expected, where=enough)
        got = attendance_percent(attended, possible, minimum)
        assert got.tobytes() == expected.tobytes()
        assert np.isnan(got[~enough]).all()


def test_a_window_of_running_counts_is_the_difference_of_every_count() -> None:
    packing = Packing(380)
    rng = np.random.default_rng(4)
    start = rng.integers(0, 100, (len(Key), 50))
    end = start + rng.integers(0, 100, (len(Key), 50))

    def packed(fields: np.ndarray) -> np.ndarray:
        words = np.zeros((packing.words, fields.shape[1]), np.uint64)
        for key in Key:
            words[packing.word[key]] += fields[key].astype(np.uint64) << np.uint64(
                packing.shift[key]
            )
        return words

    window = WindowCounts(packing, packed(end), packed(start))
    for key in Key:
        assert np.array_equal(window.count(key), end[key] - start[key])
