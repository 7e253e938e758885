"""The cycle collector during a school's evening: what the process held before it (flows, kept
cases and registers) is left out of the collector's passes while the evening runs, and handed
back whole when it ends, whether the evening succeeds or fails."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from escalation_flow.service.days import SchoolDays
from tests.daemon_builders import LAST_DAY, SCHOOL
from tests.service.conftest import World


def _spy_on_the_evaluation(monkeypatch: pytest.MonkeyPatch, seen: list[int]) -> None:
    real = SchoolDays._evaluate

    def spying(self: SchoolDays, *args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_freeze_count())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchoolDays, "_evaluate", spying)


def test_what_the_process_held_is_frozen_during_the_evening_and_handed_back_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = [object() for _ in range(1000)]  # the daemon's long-lived state, as far as gc sees
    seen: list[int] = []
    _spy_on_the_evaluation(monkeypatch, seen)
    report = world.service.run_day(SCHOOL, LAST_DAY, force=True)
    assert not report.skipped and len(seen) == 1
    assert seen[0] >= len(held)  # the evening's passes left them out
    assert gc.get_freeze_count() == 0  # and the collector has them all again


def test_an_evening_that_fails_hands_everything_back_to_the_collector(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self: SchoolDays, *args: Any, **kwargs: Any) -> Any:
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the store went away")

    monkeypatch.setattr(SchoolDays, "_evaluate", failing)
    with pytest.raises(RuntimeError, match="went away"):
        world.service.run_day(SCHOOL, LAST_DAY, force=True)
    assert gc.get_freeze_count() == 0
