"""``SqlTransaction``: the ``ports.CaseTransaction`` over one SQLAlchemy connection.

Each method is one statement or a few, delegating to the module that owns the table; the
service never sees a connection. Opened by ``Store.begin()`` (committed on leaving the block)
or ``Store.read()``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row

from escalation_flow.adapters.store import (
    case_writer,
    cases,
    desk,
    family_evenings,
    records,
    school_days,
    status_reads,
    timers,
)
from escalation_flow.adapters.store.audit_store import load_flow_versions, store_flow_version
from escalation_flow.adapters.store.kept_cases import CaseMemory, KeepingHistoryWriter
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.definition import Flow
from escalation_flow.core.family_facts import SchoolEvening
from escalation_flow.core.school_day import UniversalTask
from escalation_flow.stored import (
    DueTimer,
    HistoryRow,
    SchoolActivity,
    SchoolDayState,
    StoredCase,
)


class SqlTransaction:
    """The cases' unit of work on one connection (see ``ports.CaseTransaction``)."""

    def __init__(self, conn: Connection, cases_kept: CaseMemory | None = None) -> None:
        self.conn = conn
        #: open cases kept between transactions (``Store.keep_registers``: the daemon's)
        self.cases_kept = cases_kept

    # -- schools and school days ------------------------------------------------------------

    def school_id(self, school: str) -> int:
        return cases.school_id(self.conn, school)

    def school_key(self, school_id: int) -> str:
        return desk.school_key(self.conn, school_id)

    def evaluated(self, school_id: int, day: date) -> Row[Any] | None:
        return cases.evaluated(self.conn, school_id, day)

    def last_evaluation(self, school_id: int) -> Row[Any] | None:
        return cases.last_evaluation(self.conn, school_id)

    def school_day(self, school: str, day: date) -> SchoolDayState:
        return school_days.school_day_state(self.conn, school, day)

    def record_school_day(
        self, school_id: int, day: date, now: datetime, decisions: int, worker: str
    ) -> None:
        case_writer.record_school_day(self.conn, school_id, day, now, decisions, worker)

    def last_evaluated_days(self) -> dict[str, date]:
        return timers.last_evaluated_days(self.conn)

    def record_family_evening(
        self, school_id: int, day: date, now: datetime, evening: SchoolEvening
    ) -> bool:
        return family_evenings.record_family_evening(self.conn, school_id, day, now, evening)

    def family_evenings(self, before: date, cut: datetime) -> list[SchoolEvening]:
        return family_evenings.family_evenings(self.conn, before, cut)

    # -- cases and their history ------------------------------------------------------------

    def load_cases(
        self,
        school_id: int,
        school: str,
        pupils: Collection[str] | None = None,
        *,
        status: str | None = None,
    ) -> dict[str, StoredCase]:
        return cases.load_cases(
            self.conn, school_id, school, pupils, status=status, kept=self.cases_kept
        )

    def load_case(self, school_id: int, school: str, pupil: str) -> StoredCase:
        return cases.load_case(self.conn, school_id, school, pupil)

    def pupils_with_cases(self, school_id: int, status: str) -> set[str]:
        return cases.pupils_with_cases(self.conn, school_id, status)

    def case_row(self, school_id: int, pupil: str) -> Row[Any] | None:
        return cases.case_row(self.conn, school_id, pupil)

    def history(self, case_id: int) -> list[HistoryRow]:
        return cases.history(self.conn, case_id)

    def histories(
        self, case_ids: Collection[int], types: Collection[str] | None = None
    ) -> dict[int, list[HistoryRow]]:
        return cases.histories(self.conn, case_ids, types)

    def case_lines(self, school_id: int, status: str | None) -> list[Row[Any]]:
        return status_reads.case_lines(self.conn, school_id, status)

    def recorded_before(
        self, case_id: int, name: str, outcome: str | None, by: str | None, at: datetime
    ) -> bool:
        return desk.recorded_before(self.conn, case_id, name, outcome, by, at)

    def history_writer(
        self,
        *,
        school_id: int,
        school: str,
        flow: str,
        flow_version: str,
        now: datetime,
        worker: str,
    ) -> case_writer.HistoryWriter:
        if self.cases_kept is not None:
            return KeepingHistoryWriter(
                self.conn,
                self.cases_kept,
                school_id=school_id,
                school=school,
                flow=flow,
                flow_version=flow_version,
                now=now,
                worker=worker,
            )
        return case_writer.HistoryWriter(
            self.conn,
            school_id=school_id,
            school=school,
            flow=flow,
            flow_version=flow_version,
            now=now,
            worker=worker,
        )

    # -- flow versions ------------------------------------------------------------------------

    def store_flow_version(self, flow: Flow, now: datetime) -> bool:
        return store_flow_version(self.conn, flow, now)

    def load_flow_versions(self, versions: Collection[str]) -> dict[str, Flow]:
        return load_flow_versions(self.conn, versions)

    # -- timers -----------------------------------------------------------------------------

    def due_timers(self, now: datetime) -> list[DueTimer]:
        return timers.due_timers(self.conn, now)

    def claim_timer(self, timer_id: int, now: datetime, worker: str) -> int | None:
        return timers.claim_timer(self.conn, timer_id, now, worker)

    def claim_timers(self, timer_ids: Sequence[int], now: datetime, worker: str) -> dict[int, int]:
        return timers.claim_timers(self.conn, timer_ids, now, worker)

    def pending_fire_times(self, after: datetime | None, limit: int) -> list[datetime]:
        return timers.pending_fire_times(self.conn, after, limit)

    def case_timers(self, case_id: int) -> list[Row[Any]]:
        return cases.case_timers(self.conn, case_id)

    def pending_timer_count(self) -> int:
        return status_reads.pending_timer_count(self.conn)

    def overdue_timers(self, now: datetime) -> list[Row[Any]]:
        return status_reads.overdue_timers(self.conn, now)

    # -- tasks ------------------------------------------------------------------------------

    def task_row(self, task_id: int) -> Row[Any]:
        return cases.task_row(self.conn, task_id)

    def task_id_by_key(self, case_id: int, key: str | None) -> int | None:
        return desk.task_id_by_key(self.conn, case_id, key)

    def open_tasks(
        self,
        school_ids: Sequence[int] | None,
        role: str | None,
        due_by: date | None,
        include_universal: bool,
    ) -> list[Row[Any]]:
        return cases.open_tasks(self.conn, school_ids, role, due_by, include_universal)

    def case_tasks(self, case_id: int) -> list[Row[Any]]:
        return cases.case_tasks(self.conn, case_id)

    def complete_open_task(
        self, task_id: int, at: datetime, by: str, outcome: str, note: str | None
    ) -> bool:
        return desk.complete_open_task(self.conn, task_id, at, by, outcome, note)

    def insert_universal_tasks(
        self,
        school_id: int,
        tasks: Sequence[UniversalTask],
        kinds: Mapping[str, str],
        now: datetime,
    ) -> int:
        return case_writer.insert_universal_tasks(self.conn, school_id, tasks, kinds, now)

    def lapse_universal_tasks(
        self, school_id: int, lapse_on: Mapping[str, Callable[[date], date]], day: date
    ) -> int:
        return case_writer.lapse_universal_tasks(self.conn, school_id, lapse_on, day)

    def lapsed_task_counts(self) -> dict[str, int]:
        return status_reads.lapsed_task_counts(self.conn)

    # -- letters ----------------------------------------------------------------------------

    def insert_letters(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        return desk.insert_letters(self.conn, rows)

    def contacts_of(self, school: str, pupils: Collection[str]) -> list[ContactVersion]:
        from escalation_flow.adapters.store.contacts import read_pupil_versions

        return read_pupil_versions(self.conn, school, pupils)

    def letter_row(self, letter_id: int) -> Row[Any]:
        return cases.letter_row(self.conn, letter_id)

    def letter_of_task(self, task_id: int) -> Row[Any] | None:
        return cases.letter_of_task(self.conn, task_id)

    def letter_status_of_task(self, task_id: int) -> Any:
        return desk.letter_status_of_task(self.conn, task_id)

    def letter_task(self, task_id: int) -> Any:
        return desk.letter_task(self.conn, task_id)

    def school_of_case(self, case_id: int) -> str:
        return desk.school_of_case(self.conn, case_id)

    def approve_letter(self, letter_id: int, by: str, now: datetime) -> bool:
        return desk.approve_letter(self.conn, letter_id, by, now)

    def keep_letter_pdf(
        self, letter_id: int, pdf: bytes, now: datetime, figures: str | None = None
    ) -> bool:
        return desk.keep_letter_pdf(self.conn, letter_id, pdf, now, figures)

    def letters_without_pdf(self, limit: int | None) -> list[Row[Any]]:
        return desk.letters_without_pdf(self.conn, limit)

    # -- status -----------------------------------------------------------------------------

    def open_case_versions(self) -> list[tuple[str, str, int]]:
        return status_reads.open_case_versions(self.conn)

    def school_activity(self) -> list[SchoolActivity]:
        return status_reads.school_activity(self.conn)

    # -- the staff audit log ----------------------------------------------------------------

    def audit(self, note: Any, now: datetime, *, school: str | None, pupil: str | None) -> None:
        """One audit-log entry (``ports.AuditNote``), in this transaction."""
        values = {
            "at": now,
            "actor": note.actor[:64],
            "action": note.action,
            "school": school,
            "pupil": pupil,
            "detail": note.detail,
            "ip": None if note.ip is None else note.ip[:64],
        }
        records.insert_audit(self.conn, values, now)
