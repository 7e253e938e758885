"""Quiet evenings: the school days between a case's records on which nothing was recorded, checked
for a decision the flow would have taken (a missing step).

Replaying each record shows that what was recorded follows; it cannot show what is absent. So
for every school day from the case's first record to the last day the school was evaluated,
whose evening left no record, the case as it then stood is put to that evening's stimuli
(``daily``, and ``term_end`` on a term's last day) on the register as the service could have
read it. Readings, most faithful first: the marks imported by the time the day was evaluated
(``school_days.evaluated_at``), then the marks recorded by the end of the day. A quiet evening
is consistent when any reading decides nothing; else the decisions are named, and whether the
day was evaluated at all (a daemon that missed days) or was evaluated and recorded nothing.

Pure: the case, flow, calendar and register come in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalation_flow.audit.knowledge import Cut, PupilMarkHistory
from escalation_flow.core import evaluation
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.context import Moment
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.decisions import Decision
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_cases import FloatArray
from escalation_flow.core.school_day import SchoolCases, is_term_end

MISSING_DECISION = "missing_decision"
NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True)
class QuietDay:
    """An evening with no record on which the flow decides something."""

    on: date
    reason: str  # MISSING_DECISION | NOT_EVALUATED
    would: tuple[Decision, ...]  # what the flow decides on the first reading
    cut: str
    #: the same held on every school day from ``on`` through ``through`` (``days`` of them)
    through: date | None = None
    days: int = 1

    def text(self) -> str:
        from escalation_flow.audit.steps import describe_event

        what = ", ".join(describe_event(d.to_event()) for d in self.would)
        when = f"{self.on}" if self.days == 1 else f"{self.on} to {self.through} ({self.days} days)"
        if self.reason == NOT_EVALUATED:
            return f"{when}: the school day was not evaluated; the flow gives {what}"
        return f"{when}: nothing was recorded, but the flow gives {what} ({self.cut})"

    def continued_by(self, other: QuietDay) -> bool:
        """``other`` (the next school day) says the same: one finding covers both."""
        return other.reason == self.reason and _shape(other.would) == _shape(self.would)

    def extended(self, other: QuietDay) -> QuietDay:
        return replace(self, through=other.on, days=self.days + 1)


def _shape(decisions: tuple[Decision, ...]) -> list[tuple[object, ...]]:
    return [(d.type, getattr(d, "stage", None), getattr(d, "state", None)) for d in decisions]


@dataclass(frozen=True)
class Evenings:
    """Which school days were evaluated, and when (from the store's ``school_days``)."""

    evaluated_at: Mapping[date, datetime]


def quiet_day(
    day: int,
    calendar: SchoolCalendar,
    register: PupilMarkHistory,
    flow: Flow,
    book: Callable[[], SchoolCases],
    evenings: Evenings | None,
    family: Callable[[int, datetime], Mapping[str, FloatArray]] | None = None,
) -> QuietDay | None:
    """The finding for one quiet evening (``day``: a school day index), or None when some
    reading decides nothing. ``book()``: a fresh one-pupil book holding the case as it stood."""
    on = calendar.school_days[day]
    evaluated = None if evenings is None else evenings.evaluated_at.get(on)
    first: tuple[tuple[Decision, ...], Cut] | None = None
    # the family facts as the evening read them (at its start); unknown if it never ran
    known = family(day, evaluated) if family is not None and evaluated is not None else None
    for cut in _readings(calendar, day, evaluated):
        decided = _evening(day, calendar, register, flow, book(), cut, known)
        if not decided:
            return None
        first = first or (decided, cut)
    assert first is not None
    reason = NOT_EVALUATED if evenings is not None and evaluated is None else MISSING_DECISION
    return QuietDay(on, reason, first[0], first[1].describe())


def _readings(calendar: SchoolCalendar, day: int, evaluated: datetime | None) -> list[Cut]:
    end = end_of_day(calendar, day)
    cuts = [Cut(evaluated, imported_by=evaluated)] if evaluated is not None else []
    return [*cuts, Cut(end), Cut(end, imported_by=end)]


def _evening(
    day: int,
    calendar: SchoolCalendar,
    register: PupilMarkHistory,
    flow: Flow,
    book: SchoolCases,
    cut: Cut,
    family: Mapping[str, FloatArray] | None,
) -> tuple[Decision, ...]:
    facts = register.facts(cut, day, flow.definition.min_possible_sessions)
    env = DayEnv(book, facts, register.counts(cut, day), family)
    on = calendar.school_days[day]
    zone = ZoneInfo(calendar.timezone)
    moment = Moment(on, datetime.combine(on, book.registers_close, tzinfo=zone).astimezone(UTC))
    term_end = is_term_end(calendar, day)
    # the evening's own order, each pupil's case put to every stimulus (no screen: one pupil)
    decided = evaluation.evening(
        book.ctx, book.case(0), env, 0, moment, amended=False, screened=None, term_end=term_end
    )
    return tuple(decided.decisions)


def end_of_day(cal: SchoolCalendar, day: int) -> datetime:
    """The last instant of school day ``day`` in the school's zone (what a backtest knows)."""
    zone = ZoneInfo(cal.timezone)
    midnight = datetime.combine(cal.school_days[day] + timedelta(days=1), time(0), tzinfo=zone)
    return (midnight - timedelta(microseconds=1)).astimezone(UTC)
