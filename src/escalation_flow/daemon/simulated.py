"""The daemon on a simulated clock: the same units of work, with time moved from one event to
the next (a timer's fire instant, a school's registers closing) through a period, each school
day taking at least ``1 / speed`` seconds so a person can watch a term go by.

It is the demo, and a rehearsal of a period on a copy of the data. Days evaluated before are
skipped (run again, it resumes where it stopped); the inbox is not read.
"""

from __future__ import annotations

import time as wall
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from escalation_flow.clock import SimulatedClock
from escalation_flow.core.decisions import CaseClosed, StageEntered, StageOverridden, TaskCreated
from escalation_flow.daemon.runner import Daemon
from escalation_flow.service.views import DayReport, FiredTimer


@dataclass
class Simulated:
    """What a simulated period did."""

    start: date
    end: date
    school_days: int = 0  # dates on which at least one school was evaluated
    evaluations: int = 0
    skipped: int = 0  # evaluated before: left alone
    cases_opened: int = 0
    stage_changes: int = 0
    cases_closed: int = 0
    tasks_created: int = 0
    letters_prepared: int = 0
    timers_fired: int = 0
    stopped_early: bool = False
    #: of the counts above, what review timers caused (a stage reached on a review's outcome)
    by_timers: Counter[str] = field(default_factory=Counter)

    def add_day(self, report: DayReport) -> None:
        if report.skipped:
            self.skipped += 1
            return
        self.evaluations += 1
        self.cases_opened += report.cases_opened
        self.stage_changes += report.stage_changes
        self.cases_closed += report.cases_closed
        self.tasks_created += report.tasks_created
        self.letters_prepared += report.letters_prepared
        self.timers_fired += report.timers_fired

    def add_timers(self, fired: list[FiredTimer]) -> None:
        """Timers fired, and what they caused, counted into the totals too (the totals say
        what the period did; ``by_timers`` how much of it review timers did)."""
        self.timers_fired += len(fired)
        caused: Counter[str] = Counter()
        for timer in fired:
            for d in timer.decisions:
                if isinstance(d, StageEntered | StageOverridden):
                    caused["stage_changes"] += 1
                elif isinstance(d, CaseClosed):
                    caused["cases_closed"] += 1
                elif isinstance(d, TaskCreated):
                    caused["tasks_created"] += 1
                    caused["letters_prepared"] += d.template is not None
        self.by_timers.update(caused)
        self.stage_changes += caused["stage_changes"]
        self.cases_closed += caused["cases_closed"]
        self.tasks_created += caused["tasks_created"]
        self.letters_prepared += caused["letters_prepared"]


class _Pacer:
    """Each school day that did something lasts at least ``1 / speed`` seconds of wall time."""

    def __init__(self, daemon: Daemon, speed: float) -> None:
        self.interval = 1.0 / speed if speed > 0 else 0.0
        self.stopping = daemon.stopping
        self.day: date | None = None
        self.began = wall.monotonic()
        self.busy = False

    def reach(self, day: date) -> bool:
        """Moving on to ``day``; True when it is a new day."""
        if day == self.day:
            return False
        if self.busy and self.interval:
            left = self.interval - (wall.monotonic() - self.began)
            if left > 0:
                self.stopping.wait(left)
        self.day, self.began, self.busy = day, wall.monotonic(), False
        return True


def simulate(
    daemon: Daemon, clock: SimulatedClock, start: date, end: date, speed: float
) -> Simulated:
    """Run the period ``start``..``end`` (inclusive) on ``clock``."""
    worker = daemon.worker
    service = worker.service
    zone = ZoneInfo(service.trust.timezone)
    finish = datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    clock.set(max(clock.now(), datetime.combine(start, time(0), tzinfo=zone)))
    closes = _closes(daemon, start, end)
    done = Simulated(start, end)
    pacer = _Pacer(daemon, speed)
    tried: datetime | None = None  # the instant at which due timers were last fired
    i = 0
    while not daemon.stopping.is_set():
        timer = _next_timer(daemon, clock.now(), tried)
        close = closes[i][0] if i < len(closes) else None
        following = min((t for t in (timer, close) if t is not None), default=None)
        if following is None or following >= finish:
            break
        pacer.reach(following.astimezone(zone).date())
        clock.set(max(following, clock.now()))
        if timer is not None and (close is None or timer <= close):
            fired = worker.fire_timers()
            tried = clock.now()
            done.add_timers(fired)
            pacer.busy = pacer.busy or bool(fired)
            continue
        _, school, day = closes[i]
        i += 1
        report = worker.evaluate(school, day)
        if report is not None:
            done.add_day(report)
            pacer.busy = pacer.busy or not report.skipped
    done.stopped_early = daemon.stopping.is_set()
    done.school_days = len({d for _, _, d in closes[:i]})
    return done


def _closes(daemon: Daemon, start: date, end: date) -> list[tuple[datetime, str, date]]:
    """Every (registers close, school, day) in the period, in time order."""
    out = []
    for school, school_clock in daemon.worker.schools.items():
        calendar = daemon.service.setup(school).calendar
        out += [
            (school_clock.close_on(d).astimezone(UTC), school, d)
            for d in calendar.school_days
            if start <= d <= end
        ]
    return sorted(out)


def _next_timer(daemon: Daemon, now: datetime, tried: datetime | None) -> datetime | None:
    """The earliest pending timer's instant; past ones only if not tried at this instant
    already (a timer that could not be fired is not retried in a loop)."""
    service = daemon.service
    earliest = service.pending_fire_times(after=None, limit=1)
    if earliest and (tried is None or tried < now or earliest[0] > now):
        return earliest[0]
    later = service.pending_fire_times(after=now, limit=1)
    return later[0] if later else None


class SimulatedStamp:
    """A structlog processor: once ``zone`` is set, log lines carry the simulated time (local,
    with the weekday) instead of the wall clock's, so the demo reads as a term going by."""

    def __init__(self, clock: SimulatedClock, wall_stamp: Any) -> None:
        self.clock = clock
        self.wall_stamp = wall_stamp
        self.zone: ZoneInfo | None = None

    def __call__(
        self, logger: Any, name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self.zone is None:
            stamped: MutableMapping[str, Any] = self.wall_stamp(logger, name, event)
            return stamped
        event["timestamp"] = self.clock.now().astimezone(self.zone).strftime("%a %Y-%m-%d %H:%M")
        return event


def use_clock_in_logs(clock: SimulatedClock) -> SimulatedStamp:
    """Put a ``SimulatedStamp`` in place of the configured time stamper (set its ``zone`` to
    start stamping simulated time); call before any logger is bound."""
    processors = list(structlog.get_config()["processors"])
    wall_stamp = next(
        (p for p in processors if isinstance(p, structlog.processors.TimeStamper)),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    )
    stamp = SimulatedStamp(clock, wall_stamp)
    structlog.configure(processors=[stamp if p is wall_stamp else p for p in processors])
    return stamp
