"""An evening this daemon found under another daemon's school lock is asked again at the next
sweep (the other may hold the school only to fire its timers or read its register ahead)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from structlog import get_logger

from escalation_flow.daemon import work
from escalation_flow.daemon.work import Worker

DAY = date(2025, 11, 3)


class _Service:
    """Only what an evening asks of the service: who ran which day."""

    def __init__(self) -> None:
        self.store = SimpleNamespace(engine=None)
        self.days: list[tuple[str, date]] = []

    def run_day(self, school: str, day: date, auto_complete: bool) -> Any:
        self.days.append((school, day))
        return SimpleNamespace(skipped=False, letters_prepared=0, timers_fired=0)

    def fire_due_timers(self, now: object, stop: object, school_guard: object) -> list[object]:
        return []

    def now(self) -> None:
        return None


def _worker(service: _Service) -> Worker:
    return Worker(
        service,  # type: ignore[arg-type]
        {},
        get_logger("test"),
        catch_up_days=0,
        inbox=None,
        wall_seconds=lambda: 0.0,
        stopping=threading.Event(),
    )


def _locks(answers: list[bool]) -> Any:
    @contextmanager
    def lock(engine: object, school: str) -> Iterator[bool]:
        yield answers.pop(0)

    return lock


def test_an_evening_under_another_daemons_lock_is_evaluated_at_the_next_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(work, "school_day_lock", _locks([False, True]))
    service = _Service()
    worker = _worker(service)
    assert worker.evaluate("school-a", DAY) is None
    assert service.days == []
    worker.sweep()
    assert service.days == [("school-a", DAY)]
    assert worker.deferred == set()


def test_an_evening_still_held_stays_deferred_until_the_lock_is_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(work, "school_day_lock", _locks([False, False, False, True]))
    service = _Service()
    worker = _worker(service)
    worker.evaluate("school-a", DAY)
    worker.sweep()
    worker.sweep()
    assert service.days == [] and worker.deferred == {("school-a", DAY)}
    worker.sweep()
    assert service.days == [("school-a", DAY)] and worker.deferred == set()
