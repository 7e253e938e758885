"""A school's guard (its lock, on PostgreSQL) is taken once, possibly a school ahead of its turn
so that its register is read while the previous school's timers fire, and released as soon as
that school's timers are done (another daemon's evening of it waits no longer than that)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from escalation_flow.service.timer_firing import SchoolGuard, _Guards


def recording(others: set[str], events: list[str]) -> SchoolGuard:
    @contextmanager
    def guard(school: str) -> Iterator[bool]:
        events.append(f"take {school}")
        try:
            yield school not in others
        finally:
            events.append(f"release {school}")

    return guard


def test_a_school_taken_ahead_is_taken_once_and_released_after_its_turn() -> None:
    events: list[str] = []
    with _Guards(recording(set(), events)) as guards:
        assert guards.take("a") and guards.take("b")  # b ahead, while a's timers fire
        guards.release("a")
        assert guards.take("b")  # b's turn: the guard taken ahead, not a second time
        assert events == ["take a", "take b", "release a"]
        guards.release("b")
    assert events == ["take a", "take b", "release a", "release b"]


def test_a_school_another_daemon_holds_stays_not_mine_for_the_whole_round() -> None:
    events: list[str] = []
    with _Guards(recording({"b"}, events)) as guards:
        assert guards.take("a") and not guards.take("b") and not guards.take("b")
    assert events.count("take b") == 1 and sorted(events[-2:]) == ["release a", "release b"]


def test_every_guard_still_held_is_released_when_firing_fails() -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError), _Guards(recording(set(), events)) as guards:
        guards.take("a")
        guards.take("b")
        raise RuntimeError("a batch failed")
    assert sorted(e for e in events if e.startswith("release")) == ["release a", "release b"]


def test_without_a_guard_every_school_is_mine() -> None:
    with _Guards(None) as guards:
        assert guards.take("a") and guards.take("b")
