"""What the use cases (``service/``) need from storage, named as protocols.

The service asks for these and nothing else; ``adapters/store`` implements them over SQLAlchemy
(SQLite or PostgreSQL, every dialect difference kept there) and ``adapters/memory`` in
memory for fast tests. A use case works in one unit of work: ``CaseStore.begin()`` gives a
``CaseTransaction`` whose writes land together or not at all (a school day with its decisions,
a timer's claim with what it caused, a staff action with its audit entry); ``read()`` gives the
same calls for reading only.

Rows the store hands back for tasks, letters, timers and school days are ``Record``s: read-only
objects whose attributes are named as the columns (``task.status``, ``letter.approved_by``),
documented on the method that returns them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol, runtime_checkable

from escalation_flow.adapters.trust_files import Trust
from escalation_flow.core.access import Principal
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.definition import Flow
from escalation_flow.core.family_facts import SchoolEvening
from escalation_flow.core.marks import Roster
from escalation_flow.core.penalty_notices import NoticeVersion
from escalation_flow.core.school_day import UniversalTask
from escalation_flow.core.school_figures import SchoolFigures
from escalation_flow.core.school_weeks import WeekFigures
from escalation_flow.stored import (
    CLOSED,
    ENGINE,
    LETTER_APPROVED,
    LETTER_PREPARED,
    OPEN,
    SENT,
    TASK_DONE,
    TASK_OPEN,
    TIMER_PENDING,
    CaseChange,
    CreatedTask,
    DueTimer,
    HistoryRow,
    SchoolActivity,
    SchoolDayState,
    SchoolRead,
    StoredCase,
    Written,
)

#: A row read back: attributes named as the table's columns (see the method returning it).
Record = Any

#: (since, until, before): also name the pupils whose marks of days before ``before`` were
#: imported by imports finished in (since, until] (a school day's "amended" pupils).
Amended = tuple[datetime, datetime, date]

__all__ = [
    "CLOSED",
    "ENGINE",
    "LETTER_APPROVED",
    "LETTER_PREPARED",
    "OPEN",
    "SENT",
    "TASK_DONE",
    "TASK_OPEN",
    "TIMER_PENDING",
    "Amended",
    "AuditNote",
    "CaseChange",
    "CaseStore",
    "CaseTransaction",
    "ContactBook",
    "CreatedTask",
    "DueTimer",
    "HistoryRow",
    "HistoryWriting",
    "PenaltyNoticeBook",
    "Record",
    "RegisterSource",
    "Registers",
    "SchoolActivity",
    "SchoolDayState",
    "SchoolRead",
    "ServiceStore",
    "StoredCase",
    "Written",
]


@dataclass(frozen=True)
class AuditNote:
    """A staff audit-log entry to write with the change it records (who, what, from where)."""

    actor: str
    action: str
    detail: str | None = None
    ip: str | None = None


# -- registers: imports and marks as the service reads them --------------------------------------


class RegisterSource(Protocol):
    """Reads schools' registers as known at an instant; may read the next school ahead."""

    def __enter__(self) -> RegisterSource: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def ahead(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> None: ...

    def read(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> SchoolRead: ...


class Registers(Protocol):
    def register_reader(self) -> RegisterSource:
        """A reader to use in a ``with`` block (it may hold a helper process)."""
        ...

    def load_roster(self, school: str) -> Roster: ...


@runtime_checkable
class ContactBook(Protocol):
    """Pupils' contacts: every version of every contact of the trust's pupils, as imported
    (``core.contacts.as_known_at`` answers "as known at")."""

    def contact_versions(self) -> list[ContactVersion]: ...


#: Given the school's register as stored (every version) and the next free notice number, the
#: version to write (the service's checked notice); raising writes nothing.
NoticeMaker = Callable[[list[NoticeVersion], int], NoticeVersion]


@runtime_checkable
class PenaltyNoticeBook(Protocol):
    """The penalty-notice register: every version of every notice (``core.penalty_notices``)."""

    def penalty_notice_versions(self, school: str | None = None) -> list[NoticeVersion]: ...

    def write_penalty_notice(self, school: str, make: NoticeMaker, now: datetime) -> NoticeVersion:
        """Write ``make``'s version in one transaction that holds the school's register (two
        writers at once cannot both pass the rules on the same register)."""
        ...


@dataclass(frozen=True)
class FiguresKey:
    """What a school's headline figures were counted from: the facts at the end of school day
    ``day``, the registers as of import ``import_stamp`` (the newest import's id), as flow
    ``flow_version`` counts them. Figures kept under another key are stale and never shown."""

    day: date
    import_stamp: int
    flow_version: str


@runtime_checkable
class SchoolFiguresBook(Protocol):
    """Each school's headline figures (``core.school_figures``), kept when counted so that the
    dashboards read a row a school instead of every school's register."""

    def import_stamp(self) -> int:
        """The newest import's id (0: none): it changes whenever registers or rosters do."""
        ...

    def school_figures(self, wanted: Mapping[str, FiguresKey]) -> dict[str, SchoolFigures]:
        """The figures kept for each school under exactly its key in ``wanted`` (a school with
        none, or only under another key, is left out)."""
        ...

    def keep_school_figures(
        self, school: str, key: FiguresKey, figures: SchoolFigures, now: datetime
    ) -> None:
        """Keep ``figures`` for ``school`` and ``key.day``, replacing what was kept for that day."""
        ...


@dataclass(frozen=True)
class SchoolPage:
    """What the school dashboard reads from a school's register on a day, kept under a
    ``FiguresKey`` as the headline figures are: each pupil's facts the page shows (``columns``:
    fact name to one value per pupil of ``pupils``, NaN: not known) and the trends' weeks."""

    pupils: tuple[str, ...]
    columns: Mapping[str, tuple[float, ...]]
    this_year: WeekFigures
    last_year: WeekFigures | None


@runtime_checkable
class SchoolPagesBook(Protocol):
    """The school dashboard's register figures (``SchoolPage``), kept when counted."""

    def school_page(self, school: str, key: FiguresKey) -> SchoolPage | None:
        """The page kept for ``school`` under exactly ``key`` (None: none, or another key)."""
        ...

    def keep_school_page(
        self, school: str, key: FiguresKey, page: SchoolPage, now: datetime
    ) -> None:
        """Keep ``page`` for ``school`` and ``key.day``, replacing what was kept for that day."""
        ...


# -- cases, their history, timers, tasks, letters and school days ---------------------------------


class HistoryWriting(Protocol):
    """Appends decisions to cases' hash-chained histories, with the rows they imply."""

    def write(
        self, changes: Sequence[CaseChange], *, claimed: Collection[tuple[str, str]] = ()
    ) -> Written:
        """``claimed``: (pupil, timer key) of timers already flipped to fired by their claim."""
        ...


class CaseTransaction(Protocol):
    """One unit of work on the cases of a trust; everything written lands together."""

    # schools and school days
    def school_id(self, school: str) -> int: ...

    def school_key(self, school_id: int) -> str: ...

    def evaluated(self, school_id: int, day: date) -> Record | None:
        """The ``school_days`` row (``evaluated_at``, ``decisions``, ``worker``), if any."""
        ...

    def last_evaluation(self, school_id: int) -> Record | None:
        """The school's most recently written ``school_days`` row."""
        ...

    def school_day(self, school: str, day: date) -> SchoolDayState:
        """The school's row id, when ``day`` was evaluated, when the school was last
        evaluated and its latest evaluated day, read together (an evening asks all four)."""
        ...

    def record_school_day(
        self, school_id: int, day: date, now: datetime, decisions: int, worker: str
    ) -> None: ...

    def last_evaluated_days(self) -> dict[str, date]: ...

    # what each school's evening left for the facts across a family (``core.family_facts``)
    def record_family_evening(
        self, school_id: int, day: date, now: datetime, evening: SchoolEvening
    ) -> bool:
        """Keep the school's evening of ``day`` unless one is kept (first write kept: a
        forced re-run cannot change what others read); whether it was written."""
        ...

    def family_evenings(self, before: date, cut: datetime) -> list[SchoolEvening]:
        """Per school, its latest evening of a day before ``before`` recorded before
        ``cut``, in school order."""
        ...

    # cases and their history
    def load_cases(
        self,
        school_id: int,
        school: str,
        pupils: Collection[str] | None = None,
        *,
        status: str | None = None,
    ) -> dict[str, StoredCase]: ...

    def load_case(self, school_id: int, school: str, pupil: str) -> StoredCase: ...

    def pupils_with_cases(self, school_id: int, status: str) -> set[str]: ...

    def case_row(self, school_id: int, pupil: str) -> Record | None:
        """The ``cases`` row (``id``, ``status``, ``stage``, ``state``, ``flow_version``, ...)."""
        ...

    def history(self, case_id: int) -> list[HistoryRow]: ...

    def histories(
        self, case_ids: Collection[int], types: Collection[str] | None = None
    ) -> dict[int, list[HistoryRow]]:
        """Several cases' histories in one read (each oldest first; a case without rows: no
        key); ``types``: only the rows of these record types (a day's letters read only their
        cases' task records)."""
        ...

    def case_lines(self, school_id: int, status: str | None) -> list[Record]:
        """``cases`` rows with ``openings`` (how often the case opened)."""
        ...

    def recorded_before(
        self, case_id: int, name: str, outcome: str | None, by: str | None, at: datetime
    ) -> bool: ...

    def history_writer(
        self,
        *,
        school_id: int,
        school: str,
        flow: str,
        flow_version: str,
        now: datetime,
        worker: str,
    ) -> HistoryWriting: ...

    # flow versions
    def store_flow_version(self, flow: Flow, now: datetime) -> bool:
        """Keep the flow's text under its version; True when it was new."""
        ...

    def load_flow_versions(self, versions: Collection[str]) -> dict[str, Flow]: ...

    # timers
    def due_timers(self, now: datetime) -> list[DueTimer]: ...

    def claim_timer(self, timer_id: int, now: datetime, worker: str) -> int | None:
        """Pending to fired for ``worker``: its case's history length, or None (taken)."""
        ...

    def claim_timers(self, timer_ids: Sequence[int], now: datetime, worker: str) -> dict[int, int]:
        """Those of ``timer_ids`` still pending (and, on PostgreSQL, not held by another
        worker) to fired for ``worker``, at once: each claimed id to its case's history length."""
        ...

    def pending_fire_times(self, after: datetime | None, limit: int) -> list[datetime]: ...

    def case_timers(self, case_id: int) -> list[Record]:
        """``timers`` rows (``key``, ``timer``, ``due``, ``fire_at``, ``status``, ...)."""
        ...

    def pending_timer_count(self) -> int: ...

    def overdue_timers(self, now: datetime) -> list[Record]:
        """Pending ``timers`` rows due by ``now``, with ``pupil`` and ``school``."""
        ...

    # tasks
    def task_row(self, task_id: int) -> Record:
        """The ``tasks`` row (``NotFoundError`` if none)."""
        ...

    def task_id_by_key(self, case_id: int, key: str | None) -> int | None: ...

    def open_tasks(
        self,
        school_ids: Sequence[int] | None,
        role: str | None,
        due_by: date | None,
        include_universal: bool,
    ) -> list[Record]:
        """Open ``tasks`` rows with ``school``, ``letter_id`` and ``letter_status``."""
        ...

    def case_tasks(self, case_id: int) -> list[Record]: ...

    def complete_open_task(
        self, task_id: int, at: datetime, by: str, outcome: str, note: str | None
    ) -> bool: ...

    def insert_universal_tasks(
        self,
        school_id: int,
        tasks: Sequence[UniversalTask],
        kinds: Mapping[str, str],
        now: datetime,
    ) -> int: ...

    def lapse_universal_tasks(
        self, school_id: int, lapse_on: Mapping[str, Callable[[date], date]], day: date
    ) -> int: ...

    def lapsed_task_counts(self) -> dict[str, int]: ...

    # letters
    def insert_letters(self, rows: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def contacts_of(self, school: str, pupils: Collection[str]) -> list[ContactVersion]:
        """Every stored version of these pupils' contacts (``core.contacts.as_known_at``
        picks what was known when): whom a letter prepared now is addressed to."""
        ...

    def letter_row(self, letter_id: int) -> Record:
        """The ``letters`` row (``NotFoundError`` if none)."""
        ...

    def letter_of_task(self, task_id: int) -> Record | None: ...

    def letter_status_of_task(self, task_id: int) -> Record | None:
        """(``id``, ``status``) of the task's letter."""
        ...

    def letter_task(self, task_id: int) -> Record:
        """(``approval``, ``pupil``, ``key``: the school) of a letter's task."""
        ...

    def school_of_case(self, case_id: int) -> str: ...

    def approve_letter(self, letter_id: int, by: str, now: datetime) -> bool: ...

    def keep_letter_pdf(
        self, letter_id: int, pdf: bytes, now: datetime, figures: str | None = None
    ) -> bool: ...

    def letters_without_pdf(self, limit: int | None) -> list[Record]: ...

    # status
    def open_case_versions(self) -> list[tuple[str, str, int]]: ...

    def school_activity(self) -> list[SchoolActivity]: ...

    # the staff audit log
    def audit(
        self, note: AuditNote, now: datetime, *, school: str | None, pupil: str | None
    ) -> None: ...


class CaseStore(Protocol):
    def begin(self) -> AbstractContextManager[CaseTransaction]:
        """A unit of work: committed on leaving the block, rolled back on an error."""
        ...

    def read(self) -> AbstractContextManager[CaseTransaction]:
        """Reads only (nothing written through it is kept)."""
        ...

    def upsert_schools(self, trust: Trust) -> None: ...


class ServiceStore(CaseStore, Registers, ContactBook, Protocol):
    """Everything the service asks of a store."""


# -- read models for the staff pages ------------------------------------------------------------
#
# The pages show counts, lists and letters the service's use cases do not return. They read them
# through ``PageReads`` (implemented by ``adapters/store/page_reads.SqlPageReads``), so that every
# SQL statement lives in the store, which owns the tables and their dialects, and the pages can
# be driven by any store. ``PageStaff`` is the staff store as the pages use it: logins, sessions,
# acknowledgements and the staff audit log. Nothing here writes a case: changes go through the
# service.


@dataclass(frozen=True)
class StageMove:
    """A case history's record that set its stage (``stage_entered``, ``stage_overridden``,
    ``case_closed``: stage 0), or an undo (``undoes``: the records before it it withdrew)."""

    case_id: int
    seq: int
    on: dt.date
    stage: int
    undoes: int = 0
    pupil: str = ""


@dataclass(frozen=True)
class OpenCase:
    """A school's open case, one line: the dashboard's stage lists and the worklist's labels."""

    id: int
    pupil: str
    stage: int
    state: str
    opened_on: dt.date | None
    flow_version: str = ""  # the version it runs under (service.versions)


class WorkTask(NamedTuple):
    """An open task as the worklist reads it, with its pupil's names and year group from the
    roster and the pupil's open case beside it (``PageReads.work_tasks``): a tuple, since a
    trust has tens of thousands and the page turns only fifty of them into task cards."""

    id: int
    school: str
    pupil: str
    task: str
    role: str
    kind: str
    due: dt.date
    status: str
    approval: bool
    created_on: dt.date
    case_id: int | None
    key: str
    template: str | None
    completed_by: str | None
    completed_at: dt.datetime | None
    outcome: str | None
    note: str | None
    letter_id: int | None
    letter_status: str | None
    covers: str | None  # the pupils a school-level duty covers, comma-separated
    forename: str | None
    surname: str | None
    year_group: str | None
    #: the pupil's open case (None: none): its stage, state and flow version
    case_stage: int | None
    case_state: str | None
    case_version: str | None


@dataclass(frozen=True)
class TaskDue:
    """An open task of a school, as the dashboard counts workload (pupil "": the school's)."""

    pupil: str
    role: str
    due: dt.date


@dataclass(frozen=True)
class LetterView:
    """A prepared letter: its text, where it stands and who moved it on. The one record of a
    letter, for the command line (``Service.letter``) and the pages (the letter page, and the
    case page's list from ``PageReads.letters_of``)."""

    id: int
    task_id: int
    case_id: int
    school: str
    pupil: str
    template: str
    status: str
    html: str
    has_pdf: bool
    prepared_at: dt.datetime
    approval_needed: bool  # its task asks a named person's approval before it goes
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    sent_by: str | None = None
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class Freshness:
    """When the data was last brought in (any school) and this school last evaluated."""

    last_import_at: dt.datetime | None
    last_day_evaluated: dt.date | None


class PageReads(Protocol):
    """What the staff pages read beyond the service's use cases. A school the store does not
    know raises ``NotFoundError``."""

    def open_cases(self, school: str) -> list[OpenCase]:
        """Open cases, highest stage first, then by pupil."""
        ...

    def stage_counts(self) -> Mapping[str, Mapping[int, int]]:
        """Open cases per school and stage (schools with none are absent)."""
        ...

    def tasks_due_by(self, school: str, until: dt.date) -> list[TaskDue]:
        """The school's open tasks due on or before ``until``."""
        ...

    def overdue_counts(self, today: dt.date) -> Mapping[str, int]:
        """Open tasks due before ``today``, per school (schools with none are absent)."""
        ...

    def letters_of(self, school: str, pupil: str) -> list[LetterView]:
        """Every letter of the pupil's cases, newest first."""
        ...

    def freshness(self, school: str) -> Freshness: ...

    def import_stamp(self) -> int:
        """Changes whenever an import lands (the newest import's id; 0: none yet)."""
        ...

    def roster_stamp(self) -> int:
        """The newest roster import's id (0: none): names and year groups change with it only."""
        ...

    def work_stamps(self) -> Mapping[str, tuple[int, ...]]:
        """Per school, a stamp that changes whenever the school's cases, tasks or letters change
        (a decision, a completion, an approval, a task opened or lapsed): what the worklist's
        cache is keyed on, so that a change at one school rebuilds that school's rows only.
        Index look-ups and one pass over the cases' fixed-size columns."""
        ...

    def roster(self, school: str) -> Roster:
        """The school's pupils as the last roster import left them."""
        ...

    def work_tasks(self, schools: Sequence[str]) -> Mapping[str, list[WorkTask]]:
        """The open tasks of ``schools`` (one read for all of them), each with its pupil's
        roster fields and open case, as ``Service.tasks`` reads them, in no particular order;
        a school with none is absent."""
        ...

    def stage_moves(self, school: str) -> list[StageMove]:
        """Every stage move (and undo) of the school's case histories, for the trends."""
        ...


class StaffAccount(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def active(self) -> bool: ...
    @property
    def password_hash(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def oidc_subject(self) -> str | None: ...
    def principal(self) -> Principal: ...


class PendingSignIn(Protocol):
    """A single sign-on begun in a browser and not yet finished (``web/oidc_flow.py``)."""

    @property
    def browser_hash(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def code_verifier(self) -> str: ...
    @property
    def next_path(self) -> str: ...


class FailedLogins(Protocol):
    """Wrong passwords as the policy counts them (the staff store's ``login_history``)."""

    @property
    def pair_failures(self) -> int: ...
    @property
    def last_pair_failure(self) -> datetime | None: ...
    @property
    def address_failures(self) -> int: ...
    @property
    def oldest_address_failure(self) -> datetime | None: ...


class StaffSession(Protocol):
    @property
    def staff_id(self) -> int: ...
    @property
    def csrf_token(self) -> str: ...


class TaskAck(Protocol):
    """Someone has seen a task (before doing it): shown beside it."""

    @property
    def task_id(self) -> int: ...
    @property
    def by(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def note(self) -> str | None: ...


class PageStaff(Protocol):
    """The staff store as the pages use it; every instant is the caller's (its clock)."""

    def by_username(self, username: str) -> StaffAccount | None: ...
    def by_id(self, staff_id: int) -> StaffAccount | None: ...
    def record_attempt(self, username: str, ip: str, succeeded: bool, now: dt.datetime) -> None: ...
    def login_history(
        self, username: str, ip: str, *, since: dt.datetime, address_since: dt.datetime
    ) -> FailedLogins:
        """Wrong passwords as ``web.security.LoginPolicy`` weighs them."""
        ...

    def create_session(
        self,
        staff_id: int,
        token_hash: str,
        csrf_token: str,
        now: dt.datetime,
        expires_at: dt.datetime,
        ip: str | None,
    ) -> None: ...
    def live_session(self, token_hash: str, now: dt.datetime) -> StaffSession | None: ...
    def by_email(self, email: str) -> StaffAccount | None: ...
    def by_subject(self, issuer: str, subject: str) -> StaffAccount | None: ...
    def link_subject(self, staff_id: int, issuer: str, subject: str) -> bool: ...
    def begin_sign_in(
        self, state_hash: str, pending: PendingSignIn, now: dt.datetime, expires_at: dt.datetime
    ) -> None: ...
    def take_sign_in(
        self, state_hash: str, browser_hash: str, now: dt.datetime
    ) -> PendingSignIn | None: ...
    def end_session(self, token_hash: str, now: dt.datetime) -> None: ...
    def acknowledge(
        self, task_ids: Iterable[int], staff_id: int, note: str | None, now: dt.datetime
    ) -> list[int]:
        """The ids newly acknowledged (a task already acknowledged is not)."""
        ...

    def acks(self, task_ids: Iterable[int]) -> Mapping[int, TaskAck]: ...
    def audit(
        self,
        actor: str,
        action: str,
        now: dt.datetime,
        *,
        school: str | None = None,
        pupil: str | None = None,
        detail: str | None = None,
        ip: str | None = None,
    ) -> None: ...
