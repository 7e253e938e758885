"""A pupil's case as a fold over its decisions.

``Case`` is the state; ``apply(case, decision)`` is the only way it changes; ``fold`` replays a
whole history. The engine decides, this module only records what was decided, so replaying a
history always yields the state the engine saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.core.decisions import (
    ActionUndone,
    CaseClosed,
    CaseOpened,
    Decision,
    EventRecorded,
    FlowMigrated,
    Reason,
    StageEntered,
    StageOverridden,
    StateEntered,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
    TimerFired,
    quick_init,
)

CLOSED = "closed"
NO_CASE = "none"
#: ``Case.entered_by`` (and a ``Reason.trigger``) when a stage was entered on its entry criteria
ESCALATION = "escalation"
#: ``Reason.trigger`` of a step undone because earlier marks were amended
AMENDED = "amended"


@quick_init
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


@quick_init
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
    #: completions of each task and records of each event in the case; and, for each task or
    #: event with an outcome, ``<id>_outcome_<outcome>``: 1 for the last outcome recorded
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
    #: per event or task id, the day it was last recorded in this case (sorted by id)
    recorded_on: tuple[tuple[str, date], ...] = ()
    #: the case as it stood when the step into the current state was taken (its state is
    #: ``previous_state``): what that step's guard read, asked again when marks are amended
    prior_stage: int = 0
    prior_stage_entered_on: date | None = None
    prior_state_entered_on: date | None = None
    prior_event_counts: tuple[tuple[str, int], ...] = ()
    prior_recorded_on: tuple[tuple[str, date], ...] = ()

    @property
    def is_open(self) -> bool:
        return self.opened_on is not None and self.closed_on is None

    def count_of(self, event: str) -> int:
        for name, count in self.event_counts:
            if name == event:
                return count
        return 0

    def task(self, key: str) -> OpenTask | None:
        return next((t for t in self.tasks if t.key == key), None)

    def open_task_named(self, task: str) -> OpenTask | None:
        """The oldest open task with this id (staff actions name the task, not the key)."""
        return next((t for t in self.tasks if t.task == task), None)


def apply(case: Case, d: Decision) -> Case:
    """The case after one decision (an undo needs the case before the action: ``fold``)."""
    if isinstance(d, ActionUndone):
        raise ValueError("an action_undone record is folded with the history it corrects")
    changes = _changes_for(type(d))(case, d)
    changes["length"] = case.length + 1
    return _replaced(case, changes)


def apply_to_own(case: Case, d: Decision) -> None:
    """``apply`` in place, to a case that only its caller holds (a copy made by ``replace``):
    an evaluation folds its few decisions into one copy instead of copying the case for each.
    The same changes as ``apply``, so the case ends the same."""
    if isinstance(d, ActionUndone):
        raise ValueError("an action_undone record is folded with the history it corrects")
    values = case.__dict__
    values.update(_changes_for(type(d))(case, d))
    values["length"] += 1


def replace(case: Case, **changes: Any) -> Case:
    """``dataclasses.replace`` without re-running ``__init__``: a case changes once per decision,
    hundreds of thousands of times in a year's backtest."""
    return _replaced(case, changes)


def _replaced(case: Case, changes: dict[str, Any]) -> Case:
    # Every field is already in the copied ``__dict__``, so its order (the fields') is kept.
    values = case.__dict__.copy()
    values.update(changes)
    new = object.__new__(Case)
    object.__setattr__(new, "__dict__", values)
    return new


# -- what each kind of decision changes ----------------------------------------------------------
#
# One function per decision type, found by a dict lookup on the type (a ``match`` over a dozen
# classes tries them in turn), each returning the changed fields so the case is copied once.

_Changes = dict[str, Any]


def _opened(case: Case, d: CaseOpened) -> _Changes:
    return {
        "flow": d.flow,
        "flow_version": d.flow_version,
        "opened_on": d.on,
        "closed_on": None,
        "stage": 0,
        "state": NO_CASE,
        "event_counts": (),
        "recorded_on": (),
        "entered_by": None,
        "previous_state": NO_CASE,
        "acted_in_state": 0,
    }


def _stage_entered(case: Case, d: StageEntered) -> _Changes:
    by = ESCALATION if d.reason.trigger == ESCALATION else _led_by(d.reason)
    returned = d.reason.trigger == AMENDED
    changes = {
        "stage": d.stage,
        "stage_entered_on": d.on,
        **_entered(case, d.state, d.on, by, returned),
    }
    if returned and case.prior_stage == d.stage:
        changes["stage_entered_on"] = case.prior_stage_entered_on  # back in the stage it left
    return changes


def _stage_overridden(case: Case, d: StageOverridden) -> _Changes:
    return {"stage": d.stage, "stage_entered_on": d.on, **_entered(case, d.state, d.on, None)}


def _state_entered(case: Case, d: StateEntered) -> _Changes:
    return _entered(case, d.state, d.on, _led_by(d.reason), d.reason.trigger == AMENDED)


def _led_by(reason: Reason) -> str | None:
    """The guard that led into a state, for an amendment to ask again (``engine._reconsider``).
    A step undone for amended marks returns to a state its guard did not lead into: None, so
    that a later amendment does not undo the undoing (the case back and forth between two
    states, on a guard neither rests on)."""
    return None if reason.trigger == AMENDED else reason.guard


def _task_created(case: Case, d: TaskCreated) -> _Changes:
    task = OpenTask(
        key=d.task_key,
        task=d.task,
        role=d.role,
        kind=d.kind,
        due=d.due,
        approval=d.approval,
        created_on=d.on,
        template=d.template,
        outcomes=d.outcomes,
    )
    return {"tasks": (*case.tasks, task), "task_serial": case.task_serial + 1}


def _task_completed(case: Case, d: TaskCompleted) -> _Changes:
    return {
        "tasks": _without(case.tasks, d.task_key),
        "acted_in_state": case.acted_in_state + 1,
        "event_counts": _counted(case.event_counts, d.task, d.outcome),
        "recorded_on": _dated(case.recorded_on, d.task, d.on),
    }


def _task_superseded(case: Case, d: TaskSuperseded) -> _Changes:
    return {"tasks": _without(case.tasks, d.task_key)}


def _timer_armed(case: Case, d: TimerArmed) -> _Changes:
    timer = ArmedTimer(d.timer_key, d.timer, d.due, d.fire_at, d.on)
    return {"timers": (*case.timers, timer), "timer_serial": case.timer_serial + 1}


def _timer_gone(case: Case, d: TimerFired | TimerCancelled) -> _Changes:
    return {"timers": tuple(t for t in case.timers if t.key != d.timer_key)}


def _event_recorded(case: Case, d: EventRecorded) -> _Changes:
    return {
        "acted_in_state": case.acted_in_state + 1,
        "event_counts": _counted(case.event_counts, d.event, d.outcome),
        "recorded_on": _dated(case.recorded_on, d.event, d.on),
    }


def _closed(case: Case, d: CaseClosed) -> _Changes:
    return {"state": CLOSED, "closed_on": d.on, "tasks": (), "timers": ()}


def _migrated(case: Case, d: FlowMigrated) -> _Changes:
    return {"flow_version": d.to_version}


def _nothing(case: Case, d: Decision) -> _Changes:
    return {}


_HANDLERS: dict[type, Callable[[Case, Any], _Changes]] = {
    CaseOpened: _opened,
    StageEntered: _stage_entered,
    StageOverridden: _stage_overridden,
    StateEntered: _state_entered,
    TaskCreated: _task_created,
    TaskCompleted: _task_completed,
    TaskSuperseded: _task_superseded,
    TimerArmed: _timer_armed,
    TimerFired: _timer_gone,
    TimerCancelled: _timer_gone,
    EventRecorded: _event_recorded,
    CaseClosed: _closed,
    FlowMigrated: _migrated,
}


def _changes_for(kind: type) -> Callable[[Case, Any], _Changes]:
    """The handler of a decision type (a subclass: its nearest decision type's)."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        handler = next((_HANDLERS[c] for c in kind.__mro__ if c in _HANDLERS), _nothing)
    return handler


def _entered(
    case: Case, state: str, on: date, by: str | None, returned: bool = False
) -> _Changes:
    if returned:
        # an amendment's return: back in the state the undone step left, as it was then (its
        # counters count from its own entry again); what led into it is not known
        return {
            "previous_state": case.state,
            "state": state,
            "state_entered_on": case.prior_state_entered_on or on,
            "entered_by": None,
            "acted_in_state": 0,
            **_NO_PRIOR,
        }
    return {
        "previous_state": case.state,
        "state": state,
        "state_entered_on": on,
        "entered_by": by,
        "acted_in_state": 0,
        "prior_stage": case.stage if case.is_open else 0,
        "prior_stage_entered_on": case.stage_entered_on if case.is_open else None,
        "prior_state_entered_on": case.state_entered_on if case.is_open else None,
        "prior_event_counts": case.event_counts,
        "prior_recorded_on": case.recorded_on,
    }


_NO_PRIOR: _Changes = {
    "prior_stage": 0,
    "prior_stage_entered_on": None,
    "prior_state_entered_on": None,
    "prior_event_counts": (),
    "prior_recorded_on": (),
}


def fold(school: str, pupil: str, history: Iterable[Decision]) -> Case:
    folding = Folding(Case(school=school, pupil=pupil))
    for d in history:
        folding.add(d)
    return folding.case


class Folding:
    """A case folded a decision at a time, keeping the states it passed through so that an
    ``action_undone`` record can return the case to the state before the action it corrects."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self._states: list[Case] = [case]

    def add(self, d: Decision) -> Case:
        if isinstance(d, ActionUndone):
            if not 0 < d.undoes < len(self._states):
                raise ValueError(f"action_undone corrects {d.undoes} records the history lacks")
            self.case = undone(self._states[-1 - d.undoes], self.case)
        else:
            self.case = apply(self.case, d)
        self._states.append(self.case)
        return self.case


def undone(before: Case, current: Case) -> Case:
    """The case after an undo: as the action found it, one record longer. The serials stay
    where they were, so a task or timer made later never reuses a key the undone action used."""
    return replace(
        before,
        length=current.length + 1,
        task_serial=current.task_serial,
        timer_serial=current.timer_serial,
    )


def _without(tasks: tuple[OpenTask, ...], key: str) -> tuple[OpenTask, ...]:
    return tuple(t for t in tasks if t.key != key)


def outcome_key(name: str, outcome: str) -> str:
    """The ``event_counts`` key that is 1 while ``outcome`` is the last recorded outcome of the
    task or event ``name`` (a guard reads it as ``<name>_outcome_<outcome>_recorded``)."""
    return f"{name}{OUTCOME_MARK}{outcome}"


OUTCOME_MARK = "_outcome_"


def _counted(
    counts: tuple[tuple[str, int], ...], name: str, outcome: str | None = None
) -> tuple[tuple[str, int], ...]:
    # one pass over the (few, uniquely named) counts instead of a dict and a filtered copy of it:
    # a year's backtest counts hundreds of thousands of completions; sorted by name as before
    prefix = None if outcome is None else f"{name}{OUTCOME_MARK}"
    count = 1
    kept: list[tuple[str, int]] = []
    for item in counts:
        key = item[0]
        if key == name:
            count += item[1]
        elif prefix is None or not key.startswith(prefix):
            kept.append(item)
    kept.append((name, count))
    if outcome is not None:
        kept.append((outcome_key(name, outcome), 1))
    kept.sort()
    return tuple(kept)


def _dated(
    days: tuple[tuple[str, date], ...], name: str, on: date
) -> tuple[tuple[str, date], ...]:
    # the (few, uniquely named) days but ``name``'s, then ``name``'s: sorted by name as before
    dated = [item for item in days if item[0] != name]
    dated.append((name, on))
    dated.sort()  # the names differ, so no two dates are compared
    return tuple(dated)
