"""What the service hands back: plain, frozen records for the command line, the pages and the daemon."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from escalation_flow.core.decisions import Decision

# One record of a letter for the command line and the pages, declared with the pages' read
# models (the store fills it for both).
from escalation_flow.ports import LetterView as LetterView


@dataclass(frozen=True)
class DayReport:
    """What one school day's evaluation did (``skipped``: it had been done already)."""

    school: str
    day: date
    skipped: bool
    decisions: int = 0
    cases_opened: int = 0
    stage_changes: int = 0
    cases_closed: int = 0
    tasks_created: int = 0
    timers_fired: int = 0
    letters_prepared: int = 0
    universal_tasks: int = 0
    universal_lapsed: int = 0  # universal tasks not done in time (the first-day calls)
    evaluated_at: datetime | None = None
    #: a later school day evaluated before this one (then this one was not: ``skipped``)
    after: date | None = None

    def line(self) -> str:
        if self.after is not None:
            return (
                f"{self.school} {self.day}: not evaluated: {self.after} was evaluated already and "
                "school days are evaluated in order (a later day's cases would be rewound)"
            )
        if self.skipped:
            when = self.evaluated_at.isoformat() if self.evaluated_at else "earlier"
            return (
                f"{self.school} {self.day}: already evaluated at {when}; "
                "nothing done (--force runs it again)"
            )
        return (
            f"{self.school} {self.day}: {self.decisions} decisions; {self.cases_opened} cases "
            f"opened, {self.stage_changes} stage changes, {self.cases_closed} closed, "
            f"{self.tasks_created} tasks ({self.letters_prepared} letters prepared), "
            f"{self.timers_fired} timers fired, {self.universal_tasks} universal tasks"
            + (f" ({self.universal_lapsed} earlier ones lapsed)" if self.universal_lapsed else "")
        )


@dataclass(frozen=True)
class FiredTimer:
    """One timer this worker claimed and fired."""

    timer_id: int
    school: str
    pupil: str
    case_id: int
    key: str
    timer: str
    fire_at: datetime
    fired_at: datetime
    late_seconds: int
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class TaskView:
    id: int
    school: str
    pupil: str
    task: str
    role: str
    kind: str
    due: date
    status: str
    approval: bool
    created_on: date
    case_id: int | None
    key: str
    template: str | None = None
    overdue_days: int = 0  # school days past due (0: not overdue)
    completed_by: str | None = None
    completed_at: datetime | None = None
    outcome: str | None = None
    note: str | None = None
    letter_id: int | None = None
    letter_status: str | None = None
    #: a completion that had been recorded before (a retry): nothing new was written
    already_recorded: bool = False
    #: a school-level duty's task (no pupil): the pupils it covers
    covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimerView:
    id: int
    school: str
    pupil: str
    case_id: int
    key: str
    timer: str
    due: date
    fire_at: datetime
    status: str
    rule: str
    fired_at: datetime | None = None
    late_seconds: int | None = None
    claimed_by: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One record of a case's history, as stored."""

    seq: int
    on: date
    at: datetime
    type: str
    event: Mapping[str, Any]  # Decision.to_event()
    actor: str
    flow_version: str
    recorded_at: datetime
    hash: str


@dataclass(frozen=True)
class CaseView:
    school: str
    pupil: str
    case_id: int
    status: str
    stage: int
    state: str
    flow: str
    flow_version: str
    opened_on: date | None
    closed_on: date | None
    history: tuple[HistoryEntry, ...]
    open_tasks: tuple[TaskView, ...]
    pending_timers: tuple[TimerView, ...]
    #: seq of history records whose hash chain does not hold (empty: intact)
    broken_chain: tuple[int, ...] = ()


@dataclass(frozen=True)
class SchoolStatus:
    school: str
    last_day: date | None  # the latest school day evaluated
    evaluated_at: datetime | None
    last_import_at: datetime | None
    last_mark_day: date | None
    #: open cases still running under an earlier version of the school's flow, by version
    earlier_versions: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    pending_timers: int
    overdue_timers: tuple[TimerView, ...]  # pending, fire_at already passed; most overdue first
    schools: tuple[SchoolStatus, ...]
    overdue_tasks_by_role: Mapping[str, int] = field(default_factory=dict)
    open_tasks: int = 0
    #: universal tasks (the first-day calls) that lapsed undone, by task
    lapsed_tasks: Mapping[str, int] = field(default_factory=dict)

    def timers_late_by_more_than(self, margin: timedelta) -> tuple[TimerView, ...]:
        return tuple(t for t in self.overdue_timers if self.now - t.fire_at > margin)


@dataclass(frozen=True)
class CaseLine:
    """One case in a school's list: where it stands, and how often it was opened."""

    pupil: str
    status: str
    stage: int
    state: str
    opened_on: date | None
    closed_on: date | None
    flow_version: str
    records: int
    openings: int  # a closed case re-opens on its own row: how many times it was opened
