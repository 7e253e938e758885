"""What the store and the use cases hand each other: cases as stored, history rows, the changes
a decision set makes, and the words the store keeps for statuses.

These are plain values over the core's types. They live outside ``adapters/store`` so that
``ports`` (the protocols the service asks for) can name them without importing the SQL adapter:
the store imports them from here, never the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.actors import ENGINE as ENGINE  # the actor no person caused
from escalation_flow.core.case import Case
from escalation_flow.core.chain import GENESIS, ChainLink
from escalation_flow.core.decisions import Decision, TaskCreated, decision_from_event
from escalation_flow.core.marks import Roster
from escalation_flow.core.register import RegisterGrid

OPEN, CLOSED = "open", "closed"
TASK_OPEN, TASK_DONE, TASK_SUPERSEDED = "open", "done", "superseded"
TASK_LAPSED = "lapsed"  # a universal task not done in time (``lapses_after``)
TIMER_PENDING, TIMER_FIRED, TIMER_CANCELLED = "pending", "fired", "cancelled"
LETTER_PREPARED, LETTER_APPROVED, LETTER_SENT, LETTER_SUPERSEDED = (
    "prepared",
    "approved",
    "sent",
    "superseded",
)
#: A letter whose text was erased before it was sent (``erase_letter``): never approved or sent.
LETTER_ERASED = "erased"
#: The letter outcome that records a letter as sent.
SENT = "sent"


@dataclass(frozen=True)
class StoredCase:
    """A case as the store holds it: its row id, the folded case and the head of its chain."""

    id: int | None  # None: the pupil has no row yet
    case: Case
    head_hash: str = GENESIS

    @property
    def length(self) -> int:
        return self.case.length


@dataclass(frozen=True)
class HistoryRow:
    """One ``case_events`` row."""

    seq: int
    on: date
    at: datetime
    type: str
    body: str
    flow_version: str
    actor: str
    recorded_at: datetime
    prev_hash: str
    hash: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def decision(self) -> Decision:
        return decision_from_event(self.event, self.at)

    def link(self, case: str) -> ChainLink:
        return ChainLink(
            case=case,
            seq=self.seq,
            on=self.on,
            at=self.at,
            type=self.type,
            body=self.body,
            flow_version=self.flow_version,
            actor=self.actor,
            recorded_at=self.recorded_at,
            prev_hash=self.prev_hash,
        )


@dataclass(frozen=True)
class CaseChange:
    """One pupil's new decisions, the case they leave, and who caused them."""

    before: StoredCase
    decisions: Sequence[Decision]
    after: Case
    actor: str
    #: the records an ``action_undone`` among ``decisions`` withdraws: their tasks and timers
    #: are put back as the action found them
    undone: Sequence[Decision] = ()


@dataclass(frozen=True)
class CreatedTask:
    id: int
    case_id: int
    pupil: str
    decision: TaskCreated
    after: Case  # the case once all of this change's decisions are applied


@dataclass(frozen=True)
class Written:
    case_ids: dict[str, int]  # pupil -> case id
    tasks: list[CreatedTask]
    records: int
    heads: dict[str, str]  # pupil -> the hash at the head of the case's chain now


@dataclass(frozen=True)
class SchoolRead:
    """A school's register as known at an instant, its roster, and the "amended" pupils."""

    grid: RegisterGrid
    roster: Roster
    amended: frozenset[str]  # MIS ids


@dataclass(frozen=True)
class SchoolActivity:
    """A school's latest evaluation and latest import, as the store holds them."""

    school: str
    last_day: date | None
    evaluated_at: datetime | None
    last_import_at: datetime | None
    last_mark_day: date | None


@dataclass(frozen=True)
class SchoolDayState:
    """What a school's evening asks of ``school_days`` before it runs, read together: the
    school's row id, when ``day`` was evaluated (None: not yet), when the school was last
    evaluated (its most recently written row), and its latest evaluated day."""

    school_id: int
    evaluated_at: datetime | None
    last_evaluated_at: datetime | None
    latest_day: date | None


@dataclass(frozen=True)
class DueTimer:
    """A pending timer whose ``fire_at`` has come, with its case's school and pupil."""

    id: int
    case_id: int
    key: str
    fire_at: datetime
    school: str
    school_id: int
    pupil: str
