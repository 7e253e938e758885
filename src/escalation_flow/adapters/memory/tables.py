"""The memory store's tables: frozen rows named as the SQL store's columns, held in dictionaries.

Rows are frozen, so a unit of work copies the dictionaries (not the rows) when it begins and a
change replaces a row whole: copying is cheap, and nothing a transaction hands out can be
changed under the caller. A row is read back as the SQL store's ``Row`` would be (``task.status``,
``letter.approved_by``); a read that joins another table adds the joined columns (``school``,
``letter_id``, ...) to a plain namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from escalation_flow.core.case import Case
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.family_facts import SchoolEvening
from escalation_flow.core.marks import PupilRecord
from escalation_flow.stored import HistoryRow


def utc(instant: datetime) -> datetime:
    """Instants are kept in UTC, as the SQL store's ``UtcDateTime`` gives them back."""
    if instant.tzinfo is None:
        raise ValueError("the store keeps timezone-aware instants only")
    return instant.astimezone(UTC)


def joined(row: Any, **extra: Any) -> SimpleNamespace:
    """A row with columns of another table beside its own (a join's result)."""
    return SimpleNamespace(**{f.name: getattr(row, f.name) for f in fields(row)}, **extra)


def by_id(row: Any) -> int:
    """The sort key of rows listed in id order (the SQL store's ``ORDER BY id``)."""
    return int(row.id)


@dataclass(frozen=True)
class SchoolRec:
    id: int
    key: str
    name: str
    urn: str | None


@dataclass(frozen=True)
class CaseRec:
    id: int
    school_id: int
    pupil: str
    flow: str
    flow_version: str
    status: str
    stage: int
    state: str
    opened_on: date | None
    closed_on: date | None
    updated_at: datetime
    length: int
    head_hash: str
    case: Case  # the folded case (the SQL store's ``snapshot``)


@dataclass(frozen=True)
class TaskRec:
    id: int
    case_id: int | None
    school_id: int
    pupil: str
    key: str
    task: str
    role: str
    kind: str
    template: str | None
    approval: bool
    status: str
    due: date
    created_on: date
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None
    outcome: str | None = None
    note: str | None = None
    superseded_why: str | None = None
    covers: str | None = None  # a school-level duty's task: its pupils, comma-separated


@dataclass(frozen=True)
class TimerRec:
    id: int
    case_id: int
    school_id: int
    key: str
    timer: str
    due: date
    fire_at: datetime
    rule: str
    calendar_version: str
    status: str
    armed_at: datetime
    fired_at: datetime | None = None
    late_seconds: int | None = None
    claimed_by: str | None = None


@dataclass(frozen=True)
class LetterRec:
    id: int
    task_id: int
    case_id: int
    template: str
    status: str
    html: str
    pdf: bytes | None
    figures: str
    prepared_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    sent_by: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class SchoolDayRec:
    school_id: int
    day: date
    evaluated_at: datetime
    decisions: int
    worker: str


@dataclass(frozen=True)
class FamilyEveningRec:
    """A school's evening of ``day`` as the SQL store keeps it (``kept_rows``' pupils only)."""

    school_id: int
    day: date
    recorded_at: datetime
    evening: SchoolEvening


@dataclass(frozen=True)
class AuditRec:
    """One entry of the staff audit log."""

    at: datetime
    actor: str
    action: str
    school: str | None
    pupil: str | None
    detail: str | None
    ip: str | None


@dataclass(frozen=True)
class FlowVersionRec:
    version: str
    flow: str
    yaml: str
    first_seen: datetime


@dataclass(frozen=True)
class MarkRec:
    """One version of one session's mark (the ``marks`` table's key: pupil, day, session,
    recorded_at, code)."""

    pupil: str
    day: date
    session: int  # 0 AM, 1 PM
    recorded_at: int  # UTC microseconds
    code: int  # ``core.codes`` id
    minutes_late: int  # -1: not given
    imported_at: datetime
    import_id: int


@dataclass(frozen=True)
class ImportRec:
    id: int
    kind: str
    finished_at: datetime


@dataclass
class Tables:
    """Everything the memory store holds. ``copy()`` is what a unit of work begins from."""

    schools: dict[str, SchoolRec] = field(default_factory=dict)
    cases: dict[int, CaseRec] = field(default_factory=dict)
    case_of: dict[tuple[int, str], int] = field(default_factory=dict)  # (school, pupil) -> case
    events: dict[int, tuple[HistoryRow, ...]] = field(default_factory=dict)  # case -> history
    tasks: dict[int, TaskRec] = field(default_factory=dict)
    timers: dict[int, TimerRec] = field(default_factory=dict)
    letters: dict[int, LetterRec] = field(default_factory=dict)
    school_days: dict[tuple[int, date], SchoolDayRec] = field(default_factory=dict)
    audit: tuple[AuditRec, ...] = ()
    flow_versions: dict[str, FlowVersionRec] = field(default_factory=dict)
    # registers: every mark version by school, in the order imported; pupils in order first seen
    marks: dict[int, tuple[MarkRec, ...]] = field(default_factory=dict)
    pupils: dict[int, dict[str, PupilRecord]] = field(default_factory=dict)  # school -> MIS id
    imports: tuple[ImportRec, ...] = ()
    serials: dict[str, int] = field(default_factory=dict)
    #: every version of every contact, in the order imported (``ports.ContactBook``)
    contacts: tuple[ContactVersion, ...] = ()
    #: (school, day) -> what the school's evening left for the family facts
    family_evenings: dict[tuple[int, date], FamilyEveningRec] = field(default_factory=dict)
    written: bool = False  # something was changed since the copy

    def copy(self) -> Tables:
        return Tables(
            schools=dict(self.schools),
            cases=dict(self.cases),
            case_of=dict(self.case_of),
            events=dict(self.events),
            tasks=dict(self.tasks),
            timers=dict(self.timers),
            letters=dict(self.letters),
            school_days=dict(self.school_days),
            audit=self.audit,
            flow_versions=dict(self.flow_versions),
            marks=dict(self.marks),
            pupils={sid: dict(p) for sid, p in self.pupils.items()},
            imports=self.imports,
            serials=dict(self.serials),
            contacts=self.contacts,
            family_evenings=dict(self.family_evenings),
        )

    def next_id(self, table: str) -> int:
        """The next id of ``table`` (ids start at 1, as the SQL store's do)."""
        self.serials[table] = self.serials.get(table, 0) + 1
        return self.serials[table]

    def school_key(self, school_id: int) -> str:
        return next(s.key for s in self.schools.values() if s.id == school_id)
