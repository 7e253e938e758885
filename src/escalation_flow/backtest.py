"""The backtest: the daemon's engine run over past registers on a simulated clock.

Every school day from ``first`` to ``last``, each school's register is read as it was known at
the end of that day (marks count from their ``recorded_at``; a mark whose file does not say is
taken as recorded at the end of its own day), and the school's ``SchoolBook`` is run through the
day exactly as the daemon would: timers, staff actions, then the evening's evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Flow
from escalation_flow.core.engine import Context
from escalation_flow.core.facts import FactTable
from escalation_flow.core.marks import MarkTable, Roster
from escalation_flow.core.register import AssumeRecordedAtEndOfDay
from escalation_flow.core.school_day import Action, DayInputs, SchoolBook, run_day
from escalation_flow.core.timeline import KnownAtTimeline
from escalation_flow.errors import CalendarError


@dataclass(frozen=True)
class SchoolRun:
    """One school's inputs to a backtest."""

    school: str
    flow: Flow
    calendar: SchoolCalendar
    marks: MarkTable
    roster: Roster | None = None
    actions: Sequence[Action] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    registers_close: time = time(16, 30)


@dataclass(frozen=True)
class Period:
    first: date | None  # None: the calendar's first day
    last: date


def run_school(run: SchoolRun, period: Period, *, auto_complete: bool) -> SchoolBook:
    """Replay one school over the period; the book holds every case's history."""
    cal = run.calendar
    first, last = _day_range(cal, period)
    timeline = KnownAtTimeline(
        run.marks, cal, unknown_recorded_at=AssumeRecordedAtEndOfDay(), roster=run.roster
    )
    book = SchoolBook(
        ctx=Context(run.flow, cal),
        school=run.school,
        pupils=timeline.grid.pupils,
        parameters=run.parameters,
        registers_close=run.registers_close,
    )
    by_day = _actions_by_day(run.actions, cal, first, last)
    previous: FactTable | None = None
    minimum = run.flow.definition.min_possible_sessions
    for step in timeline.steps(first, last):
        facts = timeline.facts(min_possible_sessions_ytd=minimum)
        inputs = DayInputs(
            day=step.day_index,
            facts=facts,
            counts=timeline.counts,
            previous=previous,
            actions=by_day.get(step.day_index, ()),
            auto_complete=auto_complete,
            amended=[int(p) for p in step.amended_pupils] if step.day_index > first else (),
        )
        run_day(book, inputs)
        previous = facts
    return book


def timeline_json(
    books: Sequence[SchoolBook], *, header: Mapping[str, Any]
) -> dict[str, Any]:
    """The contract's JSON: the header, then cases in (school, pupil) order with their events."""
    cases = []
    for book in sorted(books, key=lambda b: b.school):
        for p in sorted(book.history, key=lambda i: book.pupils[i]):
            cases.append(
                {
                    "school": book.school,
                    "pupil": book.pupils[p],
                    "events": [d.to_event() for d in book.history[p]],
                }
            )
    return {**header, "cases": cases}


def dumps(document: Mapping[str, Any]) -> str:
    """Stable bytes (the same input gives the same output), one case to a line.

    Compact JSON goes through the standard library's C encoder; one case a line keeps a year of a
    trust's timeline quick to write and easy to diff.
    """
    head = {k: v for k, v in document.items() if k != "cases"}
    body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in document.get("cases", []))
    opening = json.dumps(head, ensure_ascii=False)[:-1]
    comma = ", " if head else ""
    return f'{opening}{comma}"cases": [\n{body}\n]}}\n' if body else f'{opening}{comma}"cases": []}}\n'


def _day_range(cal: SchoolCalendar, period: Period) -> tuple[int, int]:
    if period.first is not None:
        cal.check_in_range(period.first)
    cal.check_in_range(period.last)
    first = 0 if period.first is None else cal.index_on_or_before(period.first)
    if period.first is not None and not cal.is_school_day(period.first):
        first += 1
    last = cal.index_on_or_before(period.last)
    if last < first:
        raise CalendarError(f"no school day between {period.first} and {period.last}")
    return first, last


def _actions_by_day(
    actions: Sequence[Action], cal: SchoolCalendar, first: int, last: int
) -> dict[int, list[Action]]:
    """Each action on the school day it falls on (a weekend or holiday: the next school day)."""
    zone = ZoneInfo(cal.timezone)
    out: dict[int, list[Action]] = {}
    for a in actions:
        local = a.at.astimezone(zone).date()
        day = cal.index_on_or_before(local)
        if day < 0 or not cal.is_school_day(local):
            day += 1
        if first <= day <= last:
            out.setdefault(day, []).append(a)
    return out
