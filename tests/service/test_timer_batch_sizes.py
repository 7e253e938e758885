"""How a school's due timers are cut into batches (one transaction each): small first, doubling
to a few hundred, in due order, and never one case twice in a batch; a burst's later schools go
on at the size its earlier ones reached (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime

from escalation_flow.service.timer_firing import BATCH_FIRST, BATCH_MOST, BatchSizes, batches
from escalation_flow.stored import DueTimer

AT = datetime(2025, 10, 13, 7, tzinfo=UTC)


def due(n: int, case_of: dict[int, int] | None = None) -> list[DueTimer]:
    cases = case_of or {}
    return [DueTimer(i, cases.get(i, i), f"review#{i}", AT, "s1", 1, f"P{i}") for i in range(n)]


def test_batches_start_small_double_and_stop_growing_at_the_most() -> None:
    sizes = [len(b) for b in batches(due(2000))]
    assert sizes[:4] == [BATCH_FIRST, 2 * BATCH_FIRST, 4 * BATCH_FIRST, BATCH_MOST]
    assert set(sizes[3:-1]) == {BATCH_MOST} and sum(sizes) == 2000


def test_a_batch_ends_before_a_case_it_already_holds_and_the_order_is_kept() -> None:
    timers = due(6, case_of={3: 1})  # the fourth timer is the second one's case's
    cut = list(batches(timers))
    assert [[t.id for t in b] for b in cut] == [[0, 1, 2], [3, 4, 5]]


def test_a_burst_s_next_school_goes_on_at_the_size_the_last_one_reached() -> None:
    sizes = BatchSizes()
    first = [len(b) for b in batches(due(500), sizes)]
    second = [len(b) for b in batches(due(500), sizes)]
    assert first == [BATCH_FIRST, 2 * BATCH_FIRST, 4 * BATCH_FIRST, 500 - 7 * BATCH_FIRST]
    assert second == [BATCH_MOST, 500 - BATCH_MOST]


def test_a_new_burst_starts_small_again() -> None:
    grown = BatchSizes()
    list(batches(due(2000), grown))
    assert grown.size == BATCH_MOST
    assert len(next(batches(due(100)))) == BATCH_FIRST
    assert len(next(batches(due(100), BatchSizes()))) == BATCH_FIRST
