"""Ports: what the use cases and the pages need from outside, as Protocols (adapters implement
them; ``bootstrap`` and ``cli/web`` hand the implementations in)."""

from __future__ import annotations

# -- read models for the staff pages ------------------------------------------------------------
#
# The pages show counts, lists and letters the service's use cases do not return. They read them
# through ``PageReads`` (implemented by ``adapters/store/page_reads.SqlPageReads``), so that every
# SQL statement lives in the store, which owns the tables and their dialects, and the pages can
# be driven by any store. ``PageStaff`` is the staff store as the pages use it: logins, sessions,
# acknowledgements and the staff audit log. Nothing here writes a case: changes go through the
# service.
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from escalation_flow.core.access import Principal
from escalation_flow.core.marks import Roster


@dataclass(frozen=True)
class OpenCase:
    """A school's open case, one line: the dashboard's stage lists and the worklist's labels."""

    id: int
    pupil: str
    stage: int
    state: str
    opened_on: dt.date | None
    flow_version: str = ""  # the version it runs under (service.versions)


@dataclass(frozen=True)
class TaskDue:
    """An open task of a school, as the dashboard counts workload (pupil "": the school's)."""

    pupil: str
    role: str
    due: dt.date


@dataclass(frozen=True)
class LetterLine:
    """A letter of a pupil's cases, with its task: the case page's list of letters."""

    id: int
    task_id: int
    case_id: int
    school: str
    pupil: str
    template: str
    status: str
    prepared_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    sent_by: str | None
    sent_at: dt.datetime | None
    task_role: str
    task_status: str
    task_due: dt.date | None


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

    def letters_of(self, school: str, pupil: str) -> list[LetterLine]:
        """Every letter of the pupil's cases, newest first."""
        ...

    def freshness(self, school: str) -> Freshness:
        ...

    def import_stamp(self) -> int:
        """Changes whenever an import lands (the newest import's id; 0: none yet)."""
        ...

    def roster(self, school: str) -> Roster:
        """The school's pupils as the last roster import left them."""
        ...


class StaffAccount(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def active(self) -> bool: ...
    @property
    def password_hash(self) -> str: ...
    def principal(self) -> Principal: ...


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
    def failures_since(self, username: str, ip: str, since: dt.datetime) -> tuple[int, int]:
        """Failed logins since ``since``: (for this username, from this address)."""
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
