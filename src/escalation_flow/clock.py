"""The only place that reads the system clock.

Everything else receives the time as an argument or asks a ``Clock``. The daemon uses
``SystemClock``; a backtest uses ``SimulatedClock``; tests either freeze time (freezegun patches
``datetime.now`` used here) or hand in a ``SimulatedClock``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to: backtests and tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("SimulatedClock needs timezone-aware instants")
        self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class ShiftedClock:
    """Another clock moved to another date (the time of day runs on): ``--today`` on the
    command line and the pages, for data from a past year."""

    def __init__(self, base: Clock, day: date, timezone: str) -> None:
        self._base = base
        local_today = base.now().astimezone(ZoneInfo(timezone)).date()
        self._offset = timedelta(days=(day - local_today).days)

    def now(self) -> datetime:
        return self._base.now() + self._offset
