"""A pupil's case as a fold over its decisions.

``Case`` is the state; ``apply(case, decision)`` is the only way it changes; ``fold`` replays a
whole history. The engine decides, this module only records what was decided, so replaying a
history always yields the state the engine saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    Decision,
    EventRecorded,
    FlowMigrated,
    StageEntered,
    StageOverridden,
    StateEntered,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
    TimerFired,
)

CLOSED = "closed"
NO_CASE = "none"
#: ``Case.entered_by`` (and a ``Reason.trigger``) when a stage was entered on its entry criteria
ESCALATION = "escalation"


@dataclass(frozen=True)
class OpenTask:
    key: str
    task: str
    role: str
    kind: str
    due: date
    approval: bool
    created_on: date
    template: str | None = None
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArmedTimer:
    key: str
    timer: str
    due: date
    fire_at: datetime
    armed_on: date


@dataclass(frozen=True)
class Case:
    school: str
    pupil: str
    flow: str = ""
    flow_version: str = ""
    stage: int = 0
    state: str = NO_CASE
    opened_on: date | None = None
    closed_on: date | None = None
    stage_entered_on: date | None = None
    state_entered_on: date | None = None
    tasks: tuple[OpenTask, ...] = ()
    timers: tuple[ArmedTimer, ...] = ()
    event_counts: tuple[tuple[str, int], ...] = ()
    task_serial: int = 0
    timer_serial: int = 0
    length: int = 0  # decisions applied
    #: what led into the current state: ``ESCALATION`` (the stage's entry criteria), the guard
    #: of the transition taken, or None (a task outcome, an override: nothing the marks decide)
    entered_by: str | None = None
    previous_state: str = NO_CASE
    #: tasks completed and events recorded since the current state was entered
    acted_in_state: int = 0

    @property
    def is_open(self) -> bool:
        return self.opened_on is not None and self.closed_on is None

    def count_of(self, event: str) -> int:
        return dict(self.event_counts).get(event, 0)

    def task(self, key: str) -> OpenTask | None:
        return next((t for t in self.tasks if t.key == key), None)

    def open_task_named(self, task: str) -> OpenTask | None:
        """The oldest open task with this id (staff actions name the task, not the key)."""
        return next((t for t in self.tasks if t.task == task), None)


def apply(case: Case, d: Decision) -> Case:
    """The case after one decision."""
    case = replace(case, length=case.length + 1)
    match d:
        case CaseOpened():
            return replace(
                case,
                flow=d.flow,
                flow_version=d.flow_version,
                opened_on=d.on,
                closed_on=None,
                stage=0,
                state=NO_CASE,
                event_counts=(),
                entered_by=None,
                previous_state=NO_CASE,
                acted_in_state=0,
            )
        case StageEntered():
            by = ESCALATION if d.reason.trigger == ESCALATION else d.reason.guard
            return _entered(replace(case, stage=d.stage, stage_entered_on=d.on), d.state, d.on, by)
        case StageOverridden():
            return _entered(replace(case, stage=d.stage, stage_entered_on=d.on), d.state, d.on, None)
        case StateEntered():
            return _entered(case, d.state, d.on, d.reason.guard)
        case TaskCreated():
            task = OpenTask(
                d.task_key, d.task, d.role, d.kind, d.due, d.approval, d.on, d.template, d.outcomes
            )
            return replace(case, tasks=(*case.tasks, task), task_serial=case.task_serial + 1)
        case TaskCompleted():
            done = replace(case, tasks=_without(case.tasks, d.task_key))
            return _count(replace(done, acted_in_state=case.acted_in_state + 1), d.task)
        case TaskSuperseded():
            return replace(case, tasks=_without(case.tasks, d.task_key))
        case TimerArmed():
            timer = ArmedTimer(d.timer_key, d.timer, d.due, d.fire_at, d.on)
            return replace(case, timers=(*case.timers, timer), timer_serial=case.timer_serial + 1)
        case TimerFired() | TimerCancelled():
            return replace(case, timers=tuple(t for t in case.timers if t.key != d.timer_key))
        case EventRecorded():
            return _count(replace(case, acted_in_state=case.acted_in_state + 1), d.event)
        case CaseClosed():
            return replace(case, state=CLOSED, closed_on=d.on, tasks=(), timers=())
        case FlowMigrated():
            return replace(case, flow_version=d.to_version)
    return case


def replace(case: Case, **changes: Any) -> Case:
    """``dataclasses.replace`` without re-running ``__init__``: a case changes once per decision,
    hundreds of thousands of times in a year's backtest."""
    new = object.__new__(Case)
    new.__dict__.update(case.__dict__)
    new.__dict__.update(changes)
    return new


def _entered(case: Case, state: str, on: date, by: str | None) -> Case:
    return replace(
        case,
        previous_state=case.state,
        state=state,
        state_entered_on=on,
        entered_by=by,
        acted_in_state=0,
    )


def fold(school: str, pupil: str, history: Iterable[Decision]) -> Case:
    case = Case(school=school, pupil=pupil)
    for d in history:
        case = apply(case, d)
    return case


def _without(tasks: tuple[OpenTask, ...], key: str) -> tuple[OpenTask, ...]:
    return tuple(t for t in tasks if t.key != key)


def _count(case: Case, name: str) -> Case:
    counts = dict(case.event_counts)
    counts[name] = counts.get(name, 0) + 1
    return replace(case, event_counts=tuple(sorted(counts.items())))
