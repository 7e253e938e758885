"""The daemon on a terminal: one line a person can read per school day, instead of a structured
log event per case, task and letter.

    Mon 2025-11-03  5 schools: 2 cases opened, 3 moved on, 7 tasks, 2 letters, 4 timers fired

The line is built from the daemon's own log events (``case.opened``, ``task.created``, ...), so
it counts exactly what was logged and needs no second count inside the engine. ``--verbose``
shows the full structured log instead, and off a terminal (a service manager, a pipe) the log is
JSON, as before; warnings and errors always show.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, MutableMapping
from datetime import date
from typing import Any

import structlog

#: Log events counted, and the kind each counts as (in the order a line names them).
KINDS: dict[str, str] = {
    "case.opened": "opened",
    "case.stage_entered": "moved",
    "case.overridden": "moved",
    "case.closed": "closed",
    "task.created": "tasks",
    "letter.prepared": "letters",
    "timer.fired": "timers",
}
_WORDS = {
    "opened": ("case opened", "cases opened"),
    "moved": ("case moved on", "cases moved on"),
    "closed": ("case closed", "cases closed"),
    "tasks": ("task", "tasks"),
    "letters": ("letter", "letters"),
    "timers": ("timer fired", "timers fired"),
}
_EVALUATED = "day.evaluated"
_QUIET_LEVELS = frozenset({"debug", "info"})


def shows_lines(log_format: str, verbose: bool, on_terminal: bool) -> bool:
    """Whether the daemon prints day lines: on a terminal, unless --verbose or JSON was asked."""
    return on_terminal and not verbose and log_format != "json"


def on_terminal() -> bool:
    return sys.stderr.isatty()


def counts_text(counts: Counter[str]) -> str:
    """``2 cases opened, 7 tasks``: the kinds with a count, in ``KINDS``' order."""
    parts = []
    for kind in dict.fromkeys(KINDS.values()):
        n = counts.get(kind, 0)
        if n:
            one, many = _WORDS[kind]
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


class DayLines:
    """A structlog processor: counts the daemon's events by school day and kind, writes a line
    per day once the day is over (a later day's events arrive, every school has been evaluated,
    or ``finish``), and drops the info events it summarises (warnings and errors pass on).

    A school day's case events are logged before its ``day.evaluated`` event names the day;
    a timer's are logged with ``timer_id`` on the day the daemon's clock shows (``today``)."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        schools: int = 0,
        min_level: int = logging.INFO,
        today: Callable[[], date | None] = lambda: None,
    ) -> None:
        self.write = write
        self.schools = schools
        self.min_level = min_level
        self.today = today
        self.days: dict[date, Counter[str]] = {}
        self.pending: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        #: what review timers caused (their events carry ``timer_id``)
        self.by_timers: Counter[str] = Counter()

    def __call__(
        self, _logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        name = str(event.get("event", ""))
        kind = KINDS.get(name)
        if name == "case.stage_entered" and not event.get("from_stage"):
            kind = None  # a case's first stage: counted as the case opened
        if kind is not None:
            self._count(kind, event)
        elif name == _EVALUATED and event.get("day"):
            self._evaluated(date.fromisoformat(str(event["day"])))
        level = logging.getLevelNamesMapping().get(method.upper(), logging.INFO)
        if method in _QUIET_LEVELS or level < self.min_level:
            raise structlog.DropEvent
        return event

    def _count(self, kind: str, event: MutableMapping[str, Any]) -> None:
        self.totals[kind] += 1
        day = self.today() if event.get("timer_id") is not None else None
        if event.get("timer_id") is not None and kind != "timers":
            self.by_timers[kind] += 1
        if day is None:
            self.pending[kind] += 1
        else:
            self._add(day, Counter({kind: 1}))

    def _evaluated(self, day: date) -> None:
        counts = self.pending + Counter({"schools": 1})
        self.pending = Counter()
        self._add(day, counts)

    def _add(self, day: date, counts: Counter[str]) -> None:
        self.days.setdefault(day, Counter()).update(counts)
        for earlier in sorted(d for d in self.days if d < day):
            self._flush(earlier)
        if self.schools and self.days.get(day, Counter())["schools"] >= self.schools:
            self._flush(day)

    def _flush(self, day: date) -> None:
        counts = self.days.pop(day)
        schools = counts.get("schools", 0)
        where = f"{schools} school{'s' if schools != 1 else ''}: " if schools else ""
        self.write(f"{day:%a %Y-%m-%d}  {where}{counts_text(counts) or 'nothing new'}")

    def finish(self) -> None:
        """Write the days not written yet (the daemon is stopping)."""
        if self.pending and self.today() is not None:
            day = self.today()
            assert day is not None
            self._add(day, self.pending)
            self.pending = Counter()
        for day in sorted(self.days):
            self._flush(day)

    def summary(self) -> str:
        """What the run did in all, and what review timers caused of it."""
        caused = counts_text(self.by_timers)
        total = counts_text(self.totals) or "nothing new"
        return total + (f"; review timers caused {caused}" if caused else "")


def install(lines: DayLines) -> None:
    """Put ``lines`` just before the renderer of the configured structlog chain, and let
    info events reach it whatever the log level (it drops them itself)."""
    config = structlog.get_config()
    processors = list(config["processors"])
    processors.insert(len(processors) - 1, lines)
    structlog.configure(
        processors=processors, wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
