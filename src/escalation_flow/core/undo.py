"""Undoing a recorded action: when it may be undone, and the correction that undoes it.

A member of staff who completed a task or recorded an event by mistake may withdraw it for
``UNDO_WINDOW`` after it was written, while nothing has followed from it: the action's records
must still be the last of the case's history (no timer fired, no evening decided anything, no one
else acted since). The undo is a record of its own (``ActionUndone``); the action's records stay,
and the case folds back to the state they found it in (``core.case.Folding``).

What the store knows and the history does not (a letter approved or sent) is checked by the
service; this module is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from escalation_flow.core.decisions import (
    ActionUndone,
    Decision,
    EventRecorded,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
)
from escalation_flow.core.definition import Role

#: how long after it was written an action may be undone by the person who recorded it
UNDO_WINDOW = timedelta(minutes=15)
DSL_ROLE = Role.DESIGNATED_SAFEGUARDING_LEAD.value
#: the end of every refusal: what to do instead
CORRECTION = "a correction is now a new staff action (complete, record or override again)"


@dataclass(frozen=True)
class Entry:
    """One history record as the undo rules read it."""

    seq: int
    decision: Decision
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class LastAction:
    """The records a staff action wrote, still the last of the case's history."""

    records: tuple[Entry, ...]

    @property
    def head(self) -> TaskCompleted | EventRecorded:
        d = self.records[0].decision
        assert isinstance(d, TaskCompleted | EventRecorded)
        return d

    @property
    def name(self) -> str:
        d = self.head
        return d.task if isinstance(d, TaskCompleted) else d.event

    @property
    def by(self) -> str:
        return self.head.by

    @property
    def recorded_at(self) -> datetime:
        return self.records[0].recorded_at

    @property
    def until(self) -> datetime:
        """The last instant it may be undone."""
        return self.recorded_at + UNDO_WINDOW

    @property
    def decisions(self) -> list[Decision]:
        return [e.decision for e in self.records]

    def describe(self) -> str:
        d = self.head
        if isinstance(d, TaskCompleted):
            return f"{d.task} completed ({d.outcome}) by {d.by}"
        outcome = f" ({d.outcome})" if d.outcome else ""
        return f"{d.event}{outcome} recorded by {d.by}"

    def created_tasks(self) -> list[str]:
        return [d.task_key for d in self.decisions if isinstance(d, TaskCreated)]

    def superseded_tasks(self) -> list[str]:
        return [d.task_key for d in self.decisions if isinstance(d, TaskSuperseded)]


@dataclass(frozen=True)
class UndoOffer:
    """Whether the case's last action may be undone now by someone, and if not, why."""

    action: LastAction | None
    refusal: str | None
    #: whether any member of staff has acted in the case (else there is nothing to talk about)
    acted: bool = True

    @property
    def possible(self) -> bool:
        return self.action is not None and self.refusal is None


def last_action(history: Sequence[Entry]) -> LastAction | str:
    """The last step of the history if a member of staff's action made it; else why not."""
    if not history:
        return "nothing has been recorded in this case"
    start = max(
        (i for i, e in enumerate(history) if isinstance(e.decision, TaskCompleted | EventRecorded)),
        default=None,
    )
    tail = history[-1].decision
    if isinstance(tail, ActionUndone):
        return f"the last action ({tail.action}) was already undone by {tail.by}"
    if start is None:
        return "no member of staff has recorded an action in this case"
    head = history[start]
    for later in history[start + 1 :]:
        d = later.decision
        same_step = (d.on, d.at) == (head.decision.on, head.decision.at)
        if not same_step or isinstance(d, TaskCompleted | EventRecorded | ActionUndone):
            return f"{_followed(d)} since it was recorded"
    return LastAction(tuple(history[start:]))


def offer(history: Sequence[Entry], by: str, now: datetime) -> UndoOffer:
    """May ``by`` undo the case's last action at ``now``? (the history's part of the rules)"""
    found = last_action(history)
    if isinstance(found, str):
        acted = any(isinstance(e.decision, TaskCompleted | EventRecorded) for e in history)
        return UndoOffer(None, f"{found}; {CORRECTION}", acted)
    if found.by != by:
        return UndoOffer(
            found, f"{found.describe()}: only {found.by}, who recorded it, may undo it; "
            f"{CORRECTION}",
        )  # fmt: skip
    if _safeguarding(found):
        return UndoOffer(
            found,
            f"{found.describe()} is a safeguarding record, which stays with the designated "
            "safeguarding lead: tell them it was recorded in error; it is not undone here",
        )
    if now > found.until:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        return UndoOffer(
            found,
            f"{found.describe()} was recorded at {_hhmm(found.recorded_at)} UTC, more than "
            f"{minutes} minutes ago; {CORRECTION}",
        )
    return UndoOffer(found, None)


def _safeguarding(action: LastAction) -> bool:
    """A concern recorded, or anything sent to the designated safeguarding lead: once the lead
    has it, only the lead decides what becomes of it (a mis-click is theirs to close)."""
    made = [d for d in action.decisions if isinstance(d, TaskCreated)]
    return "safeguarding" in action.name or any(d.role == DSL_ROLE for d in made)


def undo_of(action: LastAction, on: date, at: datetime, note: str | None = None) -> ActionUndone:
    """The correction record that undoes ``action``."""
    head = action.head
    return ActionUndone(
        on=on,
        at=at,
        action=action.name,
        outcome=head.outcome,
        by=head.by,
        undoes=len(action.records),
        note=note,
    )


def superseded_why(d: ActionUndone) -> str:
    """Why a task the undone action had made is no longer open."""
    return f"undone: {d.action} was withdrawn by {d.by}"


def reversed_rows(undone: Sequence[Decision]) -> tuple[list[str], list[str], list[str], list[str]]:
    """What an undo changes in the tables beside the history, by key: tasks to supersede
    (made by the action), tasks to reopen (completed or superseded by it), timers to cancel
    (armed by it) and timers to make pending again (cancelled by it)."""
    made = [d.task_key for d in undone if isinstance(d, TaskCreated)]
    reopen = [d.task_key for d in undone if isinstance(d, TaskCompleted | TaskSuperseded)]
    armed = [d.timer_key for d in undone if isinstance(d, TimerArmed)]
    rearm = [d.timer_key for d in undone if isinstance(d, TimerCancelled)]
    return made, [k for k in reopen if k not in made], armed, [k for k in rearm if k not in armed]


def _followed(d: Decision) -> str:
    if isinstance(d, TaskCompleted):
        return f"{d.task} was completed by {d.by}"
    if isinstance(d, EventRecorded):
        return f"{d.event} was recorded by {d.by}"
    if isinstance(d, ActionUndone):
        return f"an undo by {d.by} was recorded"
    when = d.on.isoformat()
    return {
        "timer_fired": f"a review timer fired on {when}",
        "stage_entered": f"the case moved stage on {when}",
        "state_entered": f"the case moved on on {when}",
        "case_closed": f"the case was closed on {when}",
        "stage_overridden": f"the stage was overridden on {when}",
        "flow_migrated": f"the case moved to another flow version on {when}",
    }.get(d.type, f"a later decision ({d.type}) was recorded on {when}")


def _hhmm(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
