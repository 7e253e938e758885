"""A case's history as the engine produced it: records grouped into steps, one per stimulus.

The engine decides on a stimulus (the evening's evaluation, a review timer, a staff action, an
override) and writes what it decided as several records (a stage entered, its tasks, its
timers). A replay re-runs each step, so it first finds them again: a timer firing, a task
completion or a recorded event begins a step; an override is recognised by its
``stage_overridden`` (or a close whose trigger is ``override``); a ``flow_migrated`` record is a
step of its own; what is left, written at the same instant, is an evening's evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from escalation_flow.core.decisions import (
    ActionUndone,
    CaseClosed,
    Decision,
    EventRecorded,
    FlowMigrated,
    StageOverridden,
    Stimulus,
    TaskCompleted,
    TimerFired,
    decision_from_event,
)

EVENING = "evening"
TIMER = "timer"
ACTION = "action"
OVERRIDE = "override"
MIGRATION = "migration"
UNDO = "undo"

#: The ``why`` the engine gives when amended marks take away a stage's grounds.
AMENDED_WHY = "marks amended"


@dataclass(frozen=True)
class HistoryRecord:
    """One stored history record (a ``case_events`` row), its body parsed."""

    seq: int
    on: date
    at: datetime
    type: str
    body: Mapping[str, Any]
    flow_version: str
    actor: str
    recorded_at: datetime

    @cached_property
    def decision(self) -> Decision:
        return decision_from_event(self.body, self.at)


@dataclass(frozen=True)
class Step:
    """The records one stimulus produced."""

    kind: str  # EVENING | TIMER | ACTION | OVERRIDE | MIGRATION
    records: tuple[HistoryRecord, ...]

    @property
    def first(self) -> HistoryRecord:
        return self.records[0]

    @property
    def decisions(self) -> list[Decision]:
        return [r.decision for r in self.records]

    @property
    def bodies(self) -> list[Mapping[str, Any]]:
        return [r.body for r in self.records]

    @property
    def on(self) -> date:
        return self.first.on

    @property
    def at(self) -> datetime:
        return self.first.at

    @property
    def morning(self) -> bool:
        """Timers and staff steps are decided on the facts of the previous school day."""
        return self.kind != EVENING

    def stimulus(self) -> Stimulus | None:
        """The stimulus that produced this step (None: an evening, which has several)."""
        head = self.first.decision
        if isinstance(head, TimerFired):
            return Stimulus("timer", head.timer_key)
        if isinstance(head, TaskCompleted):
            return Stimulus("action", head.task, head.outcome, head.by, head.note)
        if isinstance(head, EventRecorded):
            return Stimulus("action", head.event, head.outcome, head.by, head.note)
        if self.kind == OVERRIDE:
            override = next((d for d in self.decisions if isinstance(d, StageOverridden)), None)
            stage = 0 if override is None else override.stage
            by = override.by if override else self.first.actor
            note = override.reason_text if override else _close_note(self.decisions)
            return Stimulus("override", by=by, note=note, extra={"stage": stage})
        return None

    def describe(self) -> str:
        """What set this step off, for a person."""
        head = self.first.decision
        if isinstance(head, TimerFired):
            return f"review timer {head.timer} came due"
        if isinstance(head, TaskCompleted):
            return f"task {head.task} completed by {head.by} (outcome {head.outcome})"
        if isinstance(head, EventRecorded):
            outcome = f" (outcome {head.outcome})" if head.outcome else ""
            return f"{head.event} recorded by {head.by}{outcome}"
        if isinstance(head, FlowMigrated):
            return f"flow migrated by {head.by}: {head.reason_text}"
        if isinstance(head, ActionUndone):
            return f"{head.action} withdrawn by {head.by}, who had recorded it (an undo)"
        if self.kind == OVERRIDE:
            stimulus = self.stimulus()
            assert stimulus is not None
            stage = stimulus.extra["stage"]
            target = "closed the case" if stage == 0 else f"set stage {stage}"
            return f"{stimulus.by} {target}: {stimulus.note or 'no reason given'}"
        return "the day's evaluation after the registers closed"


def split_steps(records: Sequence[HistoryRecord]) -> list[Step]:
    """The records (in ``seq`` order) grouped into the steps that produced them."""
    steps: list[Step] = []
    i = 0
    while i < len(records):
        kind = _head_kind(records[i].decision)
        j = i + 1
        if kind not in (MIGRATION, UNDO):
            while j < len(records) and _same_instant(records[i], records[j]):
                if _head_kind(records[j].decision) is not None:
                    break
                j += 1
        group = tuple(records[i:j])
        if kind is None:
            kind = OVERRIDE if _is_override(group) else EVENING
        steps.append(Step(kind, group))
        i = j
    return steps


def amended_readings(step: Step) -> tuple[bool, bool]:
    """Whether the evening began by reconsidering the case for amended marks, the likelier
    reading first (``core.evaluation.EVENING`` gives the order of the evening's stimuli).

    The run reconsiders a case first when the pupil's earlier marks were amended: the records
    say so (their ``why`` or trigger), but a reconsideration that changed nothing leaves no
    trace, so both readings are offered.
    """
    return (True, False) if any(_amended(b) for b in step.bodies) else (False, True)


def _amended(body: Mapping[str, Any]) -> bool:
    texts = (body.get("why"), body.get("quote"))
    marked = any(isinstance(t, str) and t.startswith(AMENDED_WHY) for t in texts)
    return marked or body.get("trigger") == "amended"


def describe_event(body: Mapping[str, Any]) -> str:
    """One record in a few words: ``stage_entered 3 (stage_3.meeting)``."""
    kind = str(body.get("type"))
    detail = {
        "case_opened": lambda: f"flow {body.get('flow')}",
        "stage_entered": lambda: f"{body.get('stage')} ({body.get('state')})",
        "state_entered": lambda: str(body.get("state")),
        "task_created": lambda: f"{body.get('task')} due {body.get('due')}",
        "task_completed": lambda: f"{body.get('task')}: {body.get('outcome')} by {body.get('by')}",
        "task_superseded": lambda: f"{body.get('task')} ({body.get('why')})",
        "timer_armed": lambda: f"{body.get('timer')} due {body.get('due')}",
        "timer_fired": lambda: str(body.get("timer")),
        "timer_cancelled": lambda: str(body.get("timer")),
        "event_recorded": lambda: f"{body.get('event')} by {body.get('by')}",
        "stage_overridden": lambda: f"{body.get('stage')} by {body.get('by')}",
        "flow_migrated": lambda: f"to {str(body.get('to_version'))[:12]}",
        "action_undone": lambda: f"{body.get('action')} by {body.get('by')}",
    }.get(kind)
    return f"{kind} {detail()}" if detail else kind


def _head_kind(d: Decision) -> str | None:
    if isinstance(d, TimerFired):
        return TIMER
    if isinstance(d, TaskCompleted | EventRecorded):
        return ACTION
    if isinstance(d, FlowMigrated):
        return MIGRATION
    if isinstance(d, ActionUndone):
        return UNDO
    return None


def _same_instant(a: HistoryRecord, b: HistoryRecord) -> bool:
    return a.on == b.on and a.at == b.at


def _is_override(group: Sequence[HistoryRecord]) -> bool:
    for r in group:
        d = r.decision
        if isinstance(d, StageOverridden):
            return True
        if isinstance(d, CaseClosed) and d.reason.trigger == "override":
            return True
    return False


def _close_note(decisions: Sequence[Decision]) -> str | None:
    close = next((d for d in decisions if isinstance(d, CaseClosed)), None)
    return close.reason.quote if close else None
