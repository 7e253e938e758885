"""What stays fixed while a school's cases are evaluated: the flow version and the calendar,
and what the engine derives from them again and again (the ``Context`` memo); and ``Moment``,
when a decision is taken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.decisions import quick_init
from escalation_flow.core.definition import (
    Approval,
    Duration,
    Flow,
    Stage,
    Task,
    Timer,
    state_flags,
)
from escalation_flow.core.due_dates import due_date, firing
from escalation_flow.core.guards import Guard
from escalation_flow.core.machine import FlowMachine, machine_for

_T = TypeVar("_T")


@quick_init
@dataclass(frozen=True)
class Moment:
    """When a decision is taken: the school day it belongs to and the instant (UTC)."""

    on: date
    at: datetime


@dataclass(frozen=True)
class Context:
    """What stays fixed while a school's cases are evaluated.

    It also keeps what the engine derives from the flow again and again (the machine, the
    stages, the names a reason shows): tens of thousands of cases are stepped with one context.
    """

    flow: Flow
    calendar: SchoolCalendar

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone)

    @cached_property
    def machine(self) -> FlowMachine:
        return machine_for(self.flow)

    @cached_property
    def state_flags(self) -> dict[str, str]:
        """``state_<stage>_<state>`` to the state's full name (``definition.state_flags``)."""
        return state_flags(self.flow.definition)

    @cached_property
    def side_tasks(self) -> frozenset[str]:
        """The ids of the side actions' tasks: they stay open when the case changes state."""
        return frozenset(t.id for side in self.flow.definition.side for t in side.tasks)

    @cached_property
    def escalating_stages(self) -> tuple[Stage, ...]:
        """``Flow.escalating_stages`` (which sorts the stages each time it is read)."""
        return self.flow.escalating_stages

    def reason_names(self, guards: tuple[Guard, ...]) -> tuple[str, ...]:
        """The fact names a reason records for these guards, sorted."""
        names = self._reason_names.get(guards)
        if names is None:
            names = tuple(sorted({n for g in guards for n in g.names}))
            self._reason_names[guards] = names
        return names

    def due(self, start: date, after: Duration, *, for_timer: bool) -> date:
        """``due_date`` on this calendar, remembered: a flow has a handful of durations and a
        year a couple of hundred school days, while a backtest asks tens of thousands of times."""
        key = ("due", start, id(after), for_timer)
        # ``_remember`` written out: asked for every task and timer made, a closure and a call
        # less each time
        known = self._remembered.get(key)
        if known is not None and known[0] is after:
            answer: date = known[1]
            return answer
        answer = due_date(self.calendar, start, after, for_timer=for_timer)
        self._remembered[key] = (after, answer)
        return answer

    def task_parts(self, task: Task) -> tuple[str, str, bool]:
        """A task's role and kind (the enums' values) and whether it needs approval, as every
        ``TaskCreated`` of it records them: read once per task, not once per task made (an
        enum's ``value`` is a Python-level property)."""
        key = ("task", id(task))
        known = self._remembered.get(key)
        if known is not None and known[0] is task:
            parts: tuple[str, str, bool] = known[1]
            return parts
        parts = (task.role.value, task.kind.value, task.approval is Approval.REQUIRED)
        self._remembered[key] = (task, parts)
        return parts

    def firing(self, timer: Timer, length: Duration, due: date) -> tuple[datetime, str]:
        """When ``timer`` armed for ``length`` to fire on ``due`` fires (UTC), and its rule."""
        return self._remember(
            # ``length`` is the timer's own or one of ``_durations``: both live as long as this
            ("firing", id(timer), id(length), due),
            timer,
            lambda: firing(self.zone, timer, length, due),
        )

    def duration(self, unit: str, amount: int) -> Duration:
        """One ``Duration`` per unit and amount (a timer's length read from a parameter), so
        that the remembered due dates and firings keyed by a duration's id are reused."""
        key = (unit, amount)
        known = self._durations.get(key)
        if known is None:
            known = self._durations[key] = Duration.model_validate({unit: amount})
        return known

    @cached_property
    def _durations(self) -> dict[tuple[str, int], Duration]:
        return {}

    def _remember(self, key: tuple[Any, ...], owner: object, compute: Callable[[], _T]) -> _T:
        """``compute()``, kept under ``key``. ``owner``, whose ``id`` is in the key, is kept
        with the answer, so that the id cannot pass to another object while it is remembered."""
        known = self._remembered.get(key)
        if known is not None and known[0] is owner:
            answer: _T = known[1]
            return answer
        answer = compute()
        self._remembered[key] = (owner, answer)
        return answer

    @cached_property
    def _reason_names(self) -> dict[tuple[Guard, ...], tuple[str, ...]]:
        return {}

    @cached_property
    def _remembered(self) -> dict[tuple[Any, ...], tuple[object, Any]]:
        return {}
